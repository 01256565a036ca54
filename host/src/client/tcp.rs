//! TCP: the echo is a byte stream, so an echo is "the next `len` bytes", however the
//! network splits them.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{Error, Failure, Link, Target, Wait, first_difference, read_failure, stopped};

/// Read buffer: large enough that a pipelined stream of short echoes costs few syscalls.
const READ_BUFFER: usize = 64 * 1024;

/// A connected TCP stream: a buffered read half that checks echoes, a write half.
#[derive(Debug)]
pub struct TcpLink {
    reader: Echoes,
    writer: TcpStream,
}

impl TcpLink {
    /// Connects to the first address of `target` that accepts within `timeout`.
    pub fn connect(target: &Target, timeout: Duration) -> Result<(Self, SocketAddr), Error> {
        let mut last_error = None;
        for addr in target.resolve()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => return Self::from_stream(stream, target).map(|link| (link, addr)),
                Err(error) => last_error = Some(error),
            }
        }
        Err(Error::Connect {
            target: target.clone(),
            source: last_error.unwrap_or_else(|| io::Error::other("no address")),
        })
    }

    fn from_stream(stream: TcpStream, target: &Target) -> Result<Self, Error> {
        let setup = |stream: &TcpStream| -> io::Result<TcpStream> {
            // Lines are small and latency is what ping measures: no Nagle delay.
            stream.set_nodelay(true)?;
            stream.try_clone()
        };
        let writer = setup(&stream).map_err(|source| Error::Connect {
            target: target.clone(),
            source,
        })?;
        Ok(TcpLink {
            reader: Echoes::new(stream),
            writer,
        })
    }

    /// Splits the link so one thread can send while another checks echoes.
    pub fn split(self) -> (Echoes, TcpStream) {
        (self.reader, self.writer)
    }

    /// The read half, e.g. to skip the rest of an echo that timed out.
    pub fn echoes(&mut self) -> &mut Echoes {
        &mut self.reader
    }
}

impl Link for TcpLink {
    fn send(&mut self, line: &[u8]) -> Result<(), Failure> {
        self.writer
            .write_all(line)
            .map_err(|error| match error.kind() {
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Failure::Closed {
                    got: 0,
                    len: line.len(),
                },
                _ => Failure::Io(error),
            })
    }

    fn expect(&mut self, line: &[u8], wait: Wait) -> Result<(), Failure> {
        self.reader.expect(line, wait)
    }

    fn is_closed(&mut self) -> bool {
        if !self.reader.inner.buffer().is_empty() {
            return false;
        }
        let stream = self.reader.inner.get_ref();
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let closed = match stream.peek(&mut [0]) {
            Ok(n) => n == 0,
            Err(error) => error.kind() == io::ErrorKind::ConnectionReset,
        };
        // If this fails the next read reports it; nothing to add here.
        let _ = stream.set_nonblocking(false);
        closed
    }
}

/// The read half: checks that the stream brings back exactly what was sent.
#[derive(Debug)]
pub struct Echoes {
    inner: BufReader<TcpStream>,
    /// Bytes still to come from echoes given up on (timed out); skipped before the next.
    owed: usize,
    /// The read timeout last set on the socket (a syscall each time it changes).
    read_timeout: Option<Duration>,
}

impl Echoes {
    fn new(stream: TcpStream) -> Self {
        Echoes {
            inner: BufReader::with_capacity(READ_BUFFER, stream),
            owed: 0,
            read_timeout: None,
        }
    }

    /// Reads the next `line.len()` bytes and compares them with `line`.
    ///
    /// On a wrong byte it still reads the whole echo, so the next one starts in the right
    /// place; on a timeout the missing bytes are remembered and skipped later.
    pub fn expect(&mut self, line: &[u8], wait: Wait) -> Result<(), Failure> {
        let len = line.len();
        if let Err(failure) = self.skip_owed(wait) {
            if let Failure::TimedOut { .. } = failure {
                // Still behind: this echo joins what is owed.
                self.owed += len;
            }
            return Err(failure.at(0, len));
        }
        let mut got = 0;
        let mut wrong = None;
        while got < len {
            let data = match self.fill(wait) {
                Ok(data) => data,
                Err(failure) => {
                    if let Failure::TimedOut { .. } = failure {
                        self.owed = len - got;
                    }
                    return Err(failure.at(got, len));
                }
            };
            let n = data.len().min(len - got);
            if wrong.is_none() {
                wrong = first_difference(line, got, &data[..n]).map(|at| (at, data[at - got]));
            }
            self.inner.consume(n);
            got += n;
        }
        match wrong {
            Some((offset, got)) => Err(Failure::Wrong {
                offset,
                len,
                sent: line[offset],
                got,
            }),
            None => Ok(()),
        }
    }

    fn skip_owed(&mut self, wait: Wait) -> Result<(), Failure> {
        while self.owed > 0 {
            let n = self.fill(wait)?.len().min(self.owed);
            self.inner.consume(n);
            self.owed -= n;
        }
        Ok(())
    }

    /// Buffered bytes, reading more if none: never empty on success.
    fn fill(&mut self, wait: Wait) -> Result<&[u8], Failure> {
        loop {
            if self.inner.buffer().is_empty() {
                let limit = wait.limit().ok_or(Failure::TimedOut { got: 0, len: 0 })?;
                if self.read_timeout != Some(limit) {
                    self.inner.get_ref().set_read_timeout(Some(limit))?;
                    self.read_timeout = Some(limit);
                }
            }
            match self.inner.fill_buf() {
                Ok([]) => return Err(Failure::Closed { got: 0, len: 0 }),
                // Re-borrow: returning `data` from inside the loop upsets the borrow checker.
                Ok(_) => return Ok(self.inner.buffer()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                    if stopped() {
                        return Err(Failure::Interrupted);
                    }
                }
                Err(error) => return Err(read_failure(error, 0, 0)),
            }
        }
    }
}
