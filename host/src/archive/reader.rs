//! The input, read in large chunks that end on record boundaries.
//!
//! Each chunk holds whole logical records (see [`super::records`]), so chunks can be parsed
//! independently, on several threads, and give the same result as the whole file. Memory is
//! the chunk size times the chunks in flight, whatever the input size; only a single record
//! longer than a chunk makes one buffer grow (up to [`MAX_RECORD`]).

use std::io::{self, Read};

use super::records::is_start;

/// Bytes read per chunk: large enough that per-chunk costs vanish, small enough that a few
/// chunks in flight keep the peak memory low.
pub const CHUNK: usize = 512 * 1024;

/// Longest logical record the reader accepts (a buffer grows to hold one).
pub const MAX_RECORD: usize = 64 * 1024 * 1024;

/// Reads chunks from `input`, carrying the text after each cut to the next chunk.
pub struct ChunkReader<R> {
    input: R,
    /// Bytes after the last cut, waiting for the next chunk.
    carry: Vec<u8>,
    eof: bool,
    /// Whether the text handed out so far ends inside legacy text (so the lines after it
    /// may continue a legacy record, and may not be cut before).
    in_legacy: bool,
    /// Bytes handed out so far.
    consumed: u64,
    scratch: Vec<u8>,
}

/// What [`ChunkReader::next_chunk`] found.
#[derive(Debug)]
pub enum Next {
    /// A chunk, `data[..len]` (`last`: the end of the input, whose final line may lack its
    /// `\n`). The bytes after `len` are left over from earlier use.
    Chunk {
        data: Vec<u8>,
        len: usize,
        last: bool,
    },
    /// The input is finished.
    End,
    /// A single logical record is longer than [`MAX_RECORD`].
    TooLong,
}

impl<R: Read> ChunkReader<R> {
    pub fn new(input: R) -> Self {
        ChunkReader {
            input,
            carry: Vec::new(),
            eof: false,
            in_legacy: false,
            consumed: 0,
            scratch: Vec::new(),
        }
    }

    /// Bytes of input handed out in chunks so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Fills `buf` (its old contents are dropped, its allocation reused) with the next
    /// chunk.
    pub fn next_chunk(&mut self, mut buf: Vec<u8>) -> io::Result<Next> {
        // `buf` keeps its length (bytes already initialized) from one use to the next, so
        // reads land in it without zeroing it again; the chunk is `buf[..len]`.
        let carried = self.carry.len();
        if buf.len() < carried {
            buf.resize(carried, 0);
        }
        buf[..carried].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut filled = carried;
        let mut want = CHUNK.max(carried * 2);
        loop {
            self.fill(&mut buf, &mut filled, want)?;
            if self.eof {
                if filled == 0 {
                    return Ok(Next::End);
                }
                self.consumed += filled as u64;
                return Ok(Next::Chunk {
                    data: buf,
                    len: filled,
                    last: true,
                });
            }
            if let Some(cut) = self.find_cut(&buf[..filled]) {
                self.carry.extend_from_slice(&buf[cut..filled]);
                self.consumed += cut as u64;
                return Ok(Next::Chunk {
                    data: buf,
                    len: cut,
                    last: false,
                });
            }
            // One record fills the whole buffer: grow it.
            if want >= MAX_RECORD {
                return Ok(Next::TooLong);
            }
            want = (want * 2).min(MAX_RECORD);
        }
    }

    /// Reads until `buf[..filled]` holds `want` bytes or the input ends.
    fn fill(&mut self, buf: &mut Vec<u8>, filled: &mut usize, want: usize) -> io::Result<()> {
        if buf.len() < want {
            buf.resize(want, 0);
        }
        loop {
            if *filled >= want || self.eof {
                return Ok(());
            }
            match self.input.read(&mut buf[*filled..want]) {
                Ok(0) => self.eof = true,
                Ok(n) => *filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Where to end a chunk of `buf`: before the last complete line that starts a record,
    /// or (outside legacy text) after the last complete line. `None`: no place to cut.
    fn find_cut(&mut self, buf: &[u8]) -> Option<usize> {
        let mut end = memchr::memrchr(b'\n', buf)? + 1;
        let complete = end;
        loop {
            let start = memchr::memrchr(b'\n', &buf[..end - 1]).map_or(0, |i| i + 1);
            let line = &buf[start..end];
            if self.scratch.len() < line.len() {
                self.scratch.resize(line.len(), 0);
            }
            if is_start(line, &mut self.scratch) {
                if start > 0 {
                    self.in_legacy = line[0] != b'{';
                    return Some(start);
                }
                // The buffer starts with a record: its kind decides below.
                self.in_legacy = line[0] != b'{';
                break;
            }
            if start == 0 {
                break;
            }
            end = start;
        }
        // No record starts after the first line: outside legacy text every line stands
        // alone (a malformed line, a blank one), so any line end will do.
        (!self.in_legacy).then_some(complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = "2023-05-01T12:00:00.123::INFO::root::Client[('127.0.0.1', 5555)] Echo: ";

    /// The chunks of `text`, each read into the previous chunk's buffer (as the pipeline
    /// recycles them), whose old bytes must not show through.
    fn chunks(text: &[u8]) -> Vec<Vec<u8>> {
        let mut r = ChunkReader::new(text);
        let mut out = Vec::new();
        let mut buf = vec![b'#'; 3 * CHUNK];
        loop {
            match r.next_chunk(buf).unwrap() {
                Next::Chunk { data, len, last } => {
                    out.push(data[..len].to_vec());
                    buf = data;
                    if last {
                        break;
                    }
                }
                Next::End => break,
                Next::TooLong => panic!("too long"),
            }
        }
        assert_eq!(out.concat(), text);
        out
    }

    #[test]
    fn cuts_only_before_record_starts_in_legacy_text() {
        // A legacy record whose continuation lines span several chunks stays whole.
        let mut text = format!("{LEGACY}x\n").into_bytes();
        text.extend(b"continued line\n".repeat(CHUNK / 10));
        let block = text.len();
        text.extend(format!("{LEGACY}y\n").repeat(CHUNK / 50).as_bytes());
        let c = chunks(&text);
        assert!(c.len() >= 2);
        assert!(c[0].len() > block, "the first chunk holds the whole record");
        assert!(c[1..].iter().all(|c| c.starts_with(LEGACY.as_bytes())));
    }

    #[test]
    fn cuts_anywhere_between_lines_outside_legacy_text() {
        let text = b"not a record\n".repeat(CHUNK / 5);
        let c = chunks(&text);
        assert!(c.len() >= 2);
        assert!(c.iter().all(|c| c.ends_with(b"\n")));
    }

    #[test]
    fn a_record_longer_than_the_limit_is_refused() {
        let text = vec![b'x'; MAX_RECORD + 10];
        let mut r = ChunkReader::new(&text[..]);
        assert!(matches!(r.next_chunk(Vec::new()).unwrap(), Next::TooLong));
    }
}
