//! Why a line is not a record.

use core::fmt;

use super::key::Key;

/// Why a line is not a record, and where (byte offset into the line) when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset in the line where it was found, when the reader knows it.
    pub offset: Option<usize>,
}

impl ParseError {
    /// An error of `kind` at no particular place.
    pub const fn new(kind: ParseErrorKind) -> Self {
        ParseError { kind, offset: None }
    }
}

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The line is empty or blank.
    Empty,
    /// The line does not hold a JSON object.
    NotAnObject,
    /// The line ends inside the object (a torn write).
    Truncated,
    /// A character that JSON does not allow here.
    Syntax,
    /// A bad `\` escape in a string.
    BadEscape,
    /// A string is not valid UTF-8.
    BadUtf8,
    /// A raw control character inside a string.
    ControlCharacter,
    /// A number is not a non-negative integer that fits 64 bits.
    BadNumber,
    /// A key appears twice.
    DuplicateKey(&'static str),
    /// A field has the wrong JSON type.
    WrongType(&'static str),
    /// A required field is missing.
    MissingField(&'static str),
    /// `ts` is not an RFC 3339 millisecond timestamp.
    BadTimestamp,
    /// `level` is not a known level.
    UnknownLevel,
    /// `event` is not a known event.
    UnknownEvent,
    /// `proto` is not `tcp` or `udp`.
    UnknownProto,
    /// `reason` is not a known reason.
    UnknownReason,
    /// `msg_hex` is not an even number of hex digits.
    BadHex,
    /// Both `msg` and `msg_hex` are present.
    MsgAndMsgHex,
    /// Something other than white space follows the object.
    TrailingCharacters,
    /// Nesting deeper than [`MAX_DEPTH`] (in an unknown field's value).
    TooDeep,
    /// The scratch buffer is smaller than the line (a caller error).
    ScratchTooSmall,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(at) => write!(f, "{} (at byte {})", self.kind, at + 1),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind::*;
        match self {
            Empty => f.write_str("empty line"),
            NotAnObject => f.write_str("not a JSON object"),
            Truncated => f.write_str("line ends inside the record (torn write?)"),
            Syntax => f.write_str("invalid JSON"),
            BadEscape => f.write_str("invalid escape in a string"),
            BadUtf8 => f.write_str("string is not valid UTF-8"),
            ControlCharacter => f.write_str("raw control character in a string"),
            BadNumber => f.write_str("number is not an unsigned 64-bit integer"),
            DuplicateKey(k) => write!(f, "duplicate field `{k}`"),
            WrongType(k) => write!(f, "field `{k}` has the wrong type"),
            MissingField(k) => write!(f, "missing field `{k}`"),
            BadTimestamp => f.write_str("`ts` is not an RFC 3339 millisecond timestamp"),
            UnknownLevel => f.write_str("unknown `level`"),
            UnknownEvent => f.write_str("unknown `event`"),
            UnknownProto => f.write_str("unknown `proto`"),
            UnknownReason => f.write_str("unknown `reason`"),
            BadHex => f.write_str("`msg_hex` is not pairs of hex digits"),
            MsgAndMsgHex => f.write_str("both `msg` and `msg_hex`"),
            TrailingCharacters => f.write_str("characters after the record"),
            TooDeep => f.write_str("nesting too deep"),
            ScratchTooSmall => f.write_str("scratch buffer smaller than the line"),
        }
    }
}

impl core::error::Error for ParseError {}

/// serde-json-core's error as a kind (`key`: the defined field being read).
pub(super) fn kind_of(e: serde_json_core::de::Error, key: Option<Key>) -> ParseErrorKind {
    use serde_json_core::de::Error as E;
    match e {
        E::EofWhileParsingList
        | E::EofWhileParsingObject
        | E::EofWhileParsingString
        | E::EofWhileParsingNumber
        | E::EofWhileParsingValue => ParseErrorKind::Truncated,
        E::InvalidNumber => ParseErrorKind::BadNumber,
        E::InvalidType => match key {
            Some(k) => ParseErrorKind::WrongType(k.name()),
            None => ParseErrorKind::NotAnObject,
        },
        E::InvalidUnicodeCodePoint => ParseErrorKind::BadUtf8,
        E::InvalidEscapeSequence => ParseErrorKind::BadEscape,
        E::TrailingCharacters if key.is_none() => ParseErrorKind::TrailingCharacters,
        _ => ParseErrorKind::Syntax,
    }
}
