//! Chunks in, encoded chunks out, in order: the calling thread reads and writes, worker
//! threads parse and encode.
//!
//! Parsing and encoding are the work (the reading and writing are copies); chunks end on
//! record boundaries, so workers take them round-robin and the caller gets results back in
//! input order. At most [`DEPTH`] chunks per worker are in flight and buffers are recycled,
//! so memory stays flat whatever the input size.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use echo_core::record::{Record, legacy};
use echo_core::time::Timestamp;

use super::Format;
use super::reader::{ChunkReader, Next};
use super::records::{Kind, Logical, Splitter};
use super::{csv, json};

/// Chunks queued per worker (one being parsed, one waiting).
const DEPTH: usize = 2;

/// A malformed record: the chunk's line (0-based) where it starts, and why.
#[derive(Debug, Clone)]
pub struct Bad {
    pub line: u64,
    pub reason: String,
}

/// What one chunk held.
#[derive(Debug, Default)]
pub struct Done {
    /// The encoded records.
    pub out: Vec<u8>,
    /// Lines in the chunk.
    pub lines: u64,
    /// Records encoded.
    pub records: u64,
    pub first_ts: Option<Timestamp>,
    /// The first malformed record (work on the chunk stopped there), unless skipping.
    pub error: Option<Bad>,
    /// Malformed records skipped (`--skip-invalid`), and the first of them.
    pub skipped: u64,
    pub first_skipped: Option<Bad>,
    /// A malformed final line without `\n` (a torn write), not counted as an error.
    pub torn: Option<Bad>,
    /// The input buffer, handed back for reuse.
    input: Vec<u8>,
}

/// Why the pipeline stopped.
#[derive(Debug)]
pub enum Stop<E> {
    /// Reading the input failed.
    Read(io::Error),
    /// A single record is longer than the reader accepts; it starts at this input line
    /// (1-based).
    TooLong(u64),
    /// The caller's handler failed.
    Handler(E),
}

struct Job {
    /// The chunk is `data[..len]`.
    data: Vec<u8>,
    len: usize,
    last: bool,
    spare: Vec<u8>,
}

/// Reads `input` to its end, handing each chunk's result to `handle` in input order, and
/// `on_read` the bytes read so far.
pub fn run<R: Read, E>(
    input: R,
    format: Format,
    skip_invalid: bool,
    mut handle: impl FnMut(&Done) -> Result<(), E>,
    mut on_read: impl FnMut(u64),
) -> Result<(), Stop<E>> {
    let workers = thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
    let mut reader = ChunkReader::new(input);
    thread::scope(|scope| {
        let mut queues: Vec<(SyncSender<Job>, Receiver<io::Result<Done>>)> = Vec::new();
        for _ in 0..workers {
            let (job_tx, job_rx) = sync_channel(DEPTH);
            let (done_tx, done_rx) = sync_channel(DEPTH);
            scope.spawn(move || work(format, skip_invalid, &job_rx, &done_tx));
            queues.push((job_tx, done_rx));
        }
        let mut in_flight: VecDeque<usize> = VecDeque::new();
        let mut free_in: Vec<Vec<u8>> = Vec::new();
        let mut free_out: Vec<Vec<u8>> = Vec::new();
        let lines = std::cell::Cell::new(0u64);
        // Takes the oldest chunk's result, hands it over, and recycles its buffers.
        let mut finish_one = |in_flight: &mut VecDeque<usize>,
                              free_in: &mut Vec<Vec<u8>>,
                              free_out: &mut Vec<Vec<u8>>|
         -> Result<(), Stop<E>> {
            let Some(w) = in_flight.pop_front() else {
                return Ok(());
            };
            let done = match queues[w].1.recv() {
                Ok(Ok(done)) => done,
                Ok(Err(e)) => return Err(Stop::Read(e)),
                Err(_) => return Err(Stop::Read(io::Error::other("a worker thread stopped"))),
            };
            lines.set(lines.get() + done.lines);
            handle(&done).map_err(Stop::Handler)?;
            free_in.push(shrunk(done.input));
            free_out.push(shrunk(done.out));
            Ok(())
        };
        let mut next = 0usize;
        loop {
            if in_flight.len() == workers * DEPTH {
                finish_one(&mut in_flight, &mut free_in, &mut free_out)?;
            }
            let buf = free_in.pop().unwrap_or_default();
            let chunk = reader.next_chunk(buf);
            let (data, len, last) = match chunk.map_err(Stop::Read)? {
                Next::Chunk { data, len, last } => (data, len, last),
                Next::End => break,
                Next::TooLong => {
                    while !in_flight.is_empty() {
                        finish_one(&mut in_flight, &mut free_in, &mut free_out)?;
                    }
                    return Err(Stop::TooLong(lines.get() + 1));
                }
            };
            let job = Job {
                data,
                len,
                last,
                spare: free_out.pop().unwrap_or_default(),
            };
            if queues[next].0.send(job).is_err() {
                return Err(Stop::Read(io::Error::other("a worker thread stopped")));
            }
            in_flight.push_back(next);
            next = (next + 1) % workers;
            on_read(reader.consumed());
            if last {
                break;
            }
        }
        while !in_flight.is_empty() {
            finish_one(&mut in_flight, &mut free_in, &mut free_out)?;
        }
        Ok(())
    })
}

/// Gives back memory a buffer grew to for one long record.
fn shrunk(mut buf: Vec<u8>) -> Vec<u8> {
    if buf.capacity() > 4 * super::reader::CHUNK {
        buf = Vec::new();
    }
    buf
}

/// The per-format encoder a worker owns.
enum Encoder {
    Csv(Box<csv::Encoder>),
    Json(json::Encoder),
    Messages(json::MessageEncoder),
}

impl Encoder {
    fn new(format: Format) -> Self {
        match format {
            Format::Csv => Encoder::Csv(Box::default()),
            Format::Json => Encoder::Json(json::Encoder::default()),
            Format::Messages => Encoder::Messages(json::MessageEncoder::default()),
        }
    }

    /// Encodes `r`, read from `json` when it was a JSON Lines record.
    fn record(&mut self, r: &Record<'_>, json: Option<&[u8]>) -> io::Result<()> {
        match self {
            Encoder::Csv(e) => {
                e.record(r);
                Ok(())
            }
            Encoder::Json(e) => {
                match json {
                    Some(line) => e.line(line),
                    None => e.record(r),
                }
                Ok(())
            }
            Encoder::Messages(e) => {
                e.record(r);
                Ok(())
            }
        }
    }

    fn take(&mut self, spare: Vec<u8>) -> io::Result<Vec<u8>> {
        match self {
            Encoder::Csv(e) => Ok(e.take(spare)),
            Encoder::Json(e) => Ok(e.take(spare)),
            Encoder::Messages(e) => Ok(e.take(spare)),
        }
    }
}

fn work(
    format: Format,
    skip_invalid: bool,
    jobs: &Receiver<Job>,
    done: &SyncSender<io::Result<Done>>,
) {
    let mut encoder = Encoder::new(format);
    let mut scratch = Vec::new();
    while let Ok(job) = jobs.recv() {
        let result = chunk(&mut encoder, &mut scratch, skip_invalid, job);
        if done.send(result).is_err() {
            return;
        }
    }
}

/// Parses and encodes one chunk.
fn chunk(
    encoder: &mut Encoder,
    scratch: &mut Vec<u8>,
    skip_invalid: bool,
    job: Job,
) -> io::Result<Done> {
    let data = &job.data[..job.len];
    // Every line and logical record of the chunk fits the scratch buffer.
    if scratch.len() < data.len() {
        scratch.resize(data.len(), 0);
    } else if scratch.len() > 4 * super::reader::CHUNK && data.len() <= super::reader::CHUNK {
        *scratch = vec![0; data.len()];
    }
    let mut done = Done::default();
    let mut split = Splitter::new(data);
    while let Some(logical) = split.next_record(scratch) {
        let parsed = match logical.kind {
            Kind::Json => Record::parse(logical.text, scratch),
            Kind::Legacy => legacy::parse(logical.text, scratch),
        };
        match parsed {
            Ok(record) => {
                done.first_ts.get_or_insert(record.ts);
                let json = (logical.kind == Kind::Json).then_some(logical.text);
                encoder.record(&record, json)?;
                done.records += 1;
            }
            Err(e) => {
                let bad = Bad {
                    line: logical.line,
                    reason: reason(&logical, &e),
                };
                if job.last && !logical.terminated {
                    done.torn = Some(bad);
                } else if skip_invalid {
                    done.skipped += 1;
                    done.first_skipped.get_or_insert(bad);
                } else {
                    done.error = Some(bad);
                    break;
                }
            }
        }
    }
    done.lines = split.lines();
    done.out = encoder.take(job.spare)?;
    done.input = job.data;
    Ok(done)
}

fn reason(logical: &Logical<'_>, e: &echo_core::record::ParseError) -> String {
    match logical.kind {
        Kind::Legacy => format!("legacy line: {e}"),
        Kind::Json if logical.text.first() != Some(&b'{') => {
            "not a log record (neither a JSON object nor a timestamped legacy line)".to_string()
        }
        Kind::Json => e.to_string(),
    }
}
