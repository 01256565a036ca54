//! Log records: the model, its JSON Lines form, and the legacy tools' lines.
//!
//! One record is one JSON object on one line (PRODUCT.md "Log records"):
//!
//! ```text
//! {"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo","conn":17,"peer":"127.0.0.1:50512","msg":"Hi There"}
//! ```
//!
//! [`Record::format`] writes that line into a caller's buffer and [`Record::parse`] reads it
//! back, so that `parse(format(r)) == r` for every record: messages are bytes, written as
//! `msg` (JSON string) when they are UTF-8 and as `msg_hex` otherwise, and every string is
//! escaped so that no message can end its string, split the line or forge a field.
//!
//! Records are serde types and their JSON is serde-json-core's (no_std, no allocation), the
//! same code on a device and a PC: [`Record`] is `Serialize`, [`Fields`] (a record as read,
//! strings still escaped) is `Deserialize`. What serde-json-core leaves to its user is done
//! on top of it: decoding escaped strings into the caller's scratch buffer ([`text`]), and
//! carrying the fields this format does not define ([`Extra`], a scan of the object's
//! top-level members that runs only when a record has such fields). In front of it,
//! [`Record::parse`] reads a line in exactly the formatter's shape in one pass (`fast`,
//! for the archiver's millions of lines); [`Record::parse_general`] is serde-json-core alone,
//! and the two agree on every line (property test, fuzz target).

mod de;
mod error;
mod extra;
mod fast;
mod human;
mod key;
pub mod legacy;
mod ser;
mod text;
mod totals;

use core::fmt;

pub use de::Fields;
pub use error::{ParseError, ParseErrorKind};
pub use extra::{Extra, MAX_DEPTH, Members};
pub use human::Human;
pub use ser::CapacityError;
pub use totals::{TotalFields, Totals};

use crate::time::Timestamp;

/// How important a record is. Ordered from most to least severe, so a record is written
/// when `record.level <= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Something failed.
    Error,
    /// Something a user should look at (a rejected connection).
    Warn,
    /// Normal service: listening, connections, echoed lines.
    Info,
    /// Refused datagrams and other detail.
    Debug,
    /// Everything.
    Trace,
}

impl Level {
    /// Every level, most severe first.
    pub const ALL: [Level; 5] = [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ];

    /// The name written in records: `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    /// Reads a record's level: exactly one of the names [`Level::as_str`] writes.
    pub fn from_record_name(name: &[u8]) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().as_bytes() == name)
    }

    /// Reads a level as people and the Python tools spell it: any case, and also `CRITICAL`
    /// and `FATAL` (error), `WARNING` (warn), `NOTSET` (trace).
    pub fn from_name_loose(name: &str) -> Option<Level> {
        let eq = |s: &str| name.eq_ignore_ascii_case(s);
        Some(if eq("error") || eq("critical") || eq("fatal") {
            Level::Error
        } else if eq("warn") || eq("warning") {
            Level::Warn
        } else if eq("info") {
            Level::Info
        } else if eq("debug") {
            Level::Debug
        } else if eq("trace") || eq("notset") {
            Level::Trace
        } else {
            return None;
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// The server is listening; `addr` is the bound address, `proto` the protocol.
    Listening,
    /// A client connected.
    Connected,
    /// One line (TCP) or datagram (UDP) was echoed; `msg` holds it.
    Echo,
    /// A connection ended; `bytes_in`, `bytes_out` and `reason` say how.
    Closed,
    /// A connection over `--max-conns` was accepted and closed at once.
    Rejected,
    /// A UDP datagram got no answer; `reason` says why.
    Refused,
    /// Something failed; `msg` says what.
    Error,
    /// The server stopped; the record carries the totals.
    Shutdown,
    /// Any other line of a legacy log, whole, in `msg`.
    Log,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 9] = [
        Event::Listening,
        Event::Connected,
        Event::Echo,
        Event::Closed,
        Event::Rejected,
        Event::Refused,
        Event::Error,
        Event::Shutdown,
        Event::Log,
    ];

    /// The name written in records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Event::Listening => "listening",
            Event::Connected => "connected",
            Event::Echo => "echo",
            Event::Closed => "closed",
            Event::Rejected => "rejected",
            Event::Refused => "refused",
            Event::Error => "error",
            Event::Shutdown => "shutdown",
            Event::Log => "log",
        }
    }

    /// Reads an event name as [`Event::as_str`] writes it.
    pub fn from_name(name: &[u8]) -> Option<Event> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str().as_bytes() == name)
    }

    /// The level the server writes this event at.
    ///
    /// `listening` and `shutdown` are INFO but are written at every threshold, see
    /// [`Event::always_logged`].
    pub const fn level(self) -> Level {
        match self {
            Event::Rejected => Level::Warn,
            Event::Refused => Level::Debug,
            Event::Error => Level::Error,
            _ => Level::Info,
        }
    }

    /// Whether the server writes this event whatever the log level (scripts rely on
    /// `listening` and `shutdown`).
    pub const fn always_logged(self) -> bool {
        matches!(self, Event::Listening | Event::Shutdown)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Transport protocol of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// Reads `tcp` or `udp`.
    pub fn from_name(name: &[u8]) -> Option<Proto> {
        match name {
            b"tcp" => Some(Proto::Tcp),
            b"udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a connection closed, was rejected, or a datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The peer closed its side (end of stream).
    Eof,
    /// The peer reset the connection.
    Reset,
    /// No byte moved for `--idle-timeout`.
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// A socket error; an `error` record says which.
    Error,
    /// Over `--max-conns`.
    MaxConns,
    /// A datagram from a source port below 1024.
    Port,
    /// A datagram over the source address's `--udp-rate`.
    Rate,
    /// The rate table is full of active sources, so a new source cannot be tracked yet.
    Busy,
    /// A datagram larger than 65,507 bytes.
    Size,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 10] = [
        Reason::Eof,
        Reason::Reset,
        Reason::Idle,
        Reason::Shutdown,
        Reason::Error,
        Reason::MaxConns,
        Reason::Port,
        Reason::Rate,
        Reason::Busy,
        Reason::Size,
    ];

    /// The name written in records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Eof => "eof",
            Reason::Reset => "reset",
            Reason::Idle => "idle",
            Reason::Shutdown => "shutdown",
            Reason::Error => "error",
            Reason::MaxConns => "max_conns",
            Reason::Port => "port",
            Reason::Rate => "rate",
            Reason::Busy => "busy",
            Reason::Size => "size",
        }
    }

    /// Reads a reason as [`Reason::as_str`] writes it.
    pub fn from_name(name: &[u8]) -> Option<Reason> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str().as_bytes() == name)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One log record. Strings and the message borrow from the caller (the runner's state, or
/// the line and scratch buffer given to [`Record::parse`]).
///
/// A record carries exactly the fields it was given: every field but `ts`, `level` and
/// `event` is optional, and fields the format does not define ride along in `extra`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Record<'a> {
    /// When, to the millisecond.
    pub ts: Timestamp,
    /// How important.
    pub level: Level,
    /// What happened.
    pub event: Event,
    /// Connection number (TCP), counting from 1 per server run.
    pub conn: Option<u64>,
    /// The client, `ip:port` (`[ip]:port` for IPv6).
    pub peer: Option<&'a str>,
    /// `tcp` or `udp`.
    pub proto: Option<Proto>,
    /// The bound address of a `listening` record.
    pub addr: Option<&'a str>,
    /// The message: a line without its `\n`/`\r\n`, a datagram, or an error's text.
    /// Written as `msg` when UTF-8, as `msg_hex` otherwise.
    pub msg: Option<&'a [u8]>,
    /// `Some(true)`: the message is not a whole line (a final line without newline, or a
    /// piece of a line longer than `--max-line`, all pieces but the last).
    pub partial: Option<bool>,
    /// Why (closed, rejected, refused).
    pub reason: Option<Reason>,
    /// Bytes received (closed: on the connection; shutdown: in all).
    pub bytes_in: Option<u64>,
    /// Bytes sent (closed: on the connection; shutdown: in all).
    pub bytes_out: Option<u64>,
    /// Totals of a `shutdown` record.
    pub totals: TotalFields,
    /// Fields the log format does not define, as read.
    pub extra: Extra<'a>,
}

impl<'a> Record<'a> {
    /// A record with only the three required fields; set the others with struct update
    /// syntax (`Record { msg: Some(line), ..Record::new(ts, Level::Info, Event::Echo) }`).
    pub const fn new(ts: Timestamp, level: Level, event: Event) -> Self {
        Record {
            ts,
            level,
            event,
            conn: None,
            peer: None,
            proto: None,
            addr: None,
            msg: None,
            partial: None,
            reason: None,
            bytes_in: None,
            bytes_out: None,
            totals: TotalFields::NONE,
            extra: Extra::NONE,
        }
    }

    /// A record of `event` at the level the server writes it at.
    pub const fn event(ts: Timestamp, event: Event) -> Self {
        Record::new(ts, event.level(), event)
    }

    /// Whether the message is written as `msg_hex` (it is not valid UTF-8).
    pub fn msg_is_binary(&self) -> bool {
        self.msg.is_some_and(|m| core::str::from_utf8(m).is_err())
    }

    /// The message as text, if there is one and it is UTF-8.
    pub fn msg_str(&self) -> Option<&'a str> {
        self.msg.and_then(|m| core::str::from_utf8(m).ok())
    }

    /// Whether the message is a piece, not a whole line (`"partial":true`).
    pub fn is_partial(&self) -> bool {
        self.partial == Some(true)
    }

    /// An upper bound on [`Record::format`]'s output length for this record: size the
    /// buffer with it and formatting cannot fail.
    pub fn max_formatted_len(&self) -> usize {
        let strings = self.peer.map_or(0, str::len)
            + self.addr.map_or(0, str::len)
            + self.msg.map_or(0, <[u8]>::len);
        ser::FIXED_MAX + 6 * strings + self.extra.max_len()
    }

    /// [`Record::max_formatted_len`] for any record without unknown fields whose message
    /// is at most `msg_len` bytes and whose peer and address are socket addresses.
    pub const fn max_len_for_msg(msg_len: usize) -> usize {
        // "[ffff:...:ffff%4294967295]:65535" is at most 58 bytes; escaping cannot grow it.
        ser::FIXED_MAX + 2 * 58 + 6 * msg_len
    }
}
