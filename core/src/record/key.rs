//! The keys the log format defines, recognised however they are spelled.

use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use serde_json_core::str::EscapedStr;

use super::{TotalFields, text};

/// A key the log format defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    Ts,
    Level,
    Event,
    Conn,
    Peer,
    Proto,
    Addr,
    Msg,
    MsgHex,
    Partial,
    Reason,
    BytesIn,
    BytesOut,
    /// `TotalFields::NAMES[i]`.
    Total(u8),
}

impl Key {
    pub(super) fn from_name(name: &[u8]) -> Option<Key> {
        Some(match name {
            b"ts" => Key::Ts,
            b"level" => Key::Level,
            b"event" => Key::Event,
            b"conn" => Key::Conn,
            b"peer" => Key::Peer,
            b"proto" => Key::Proto,
            b"addr" => Key::Addr,
            b"msg" => Key::Msg,
            b"msg_hex" => Key::MsgHex,
            b"partial" => Key::Partial,
            b"reason" => Key::Reason,
            b"bytes_in" => Key::BytesIn,
            b"bytes_out" => Key::BytesOut,
            b"conns" => Key::Total(0),
            b"rejected" => Key::Total(1),
            b"echoes" => Key::Total(2),
            b"refused_port" => Key::Total(3),
            b"refused_rate" => Key::Total(4),
            b"refused_busy" => Key::Total(5),
            b"console_dropped" => Key::Total(6),
            _ => return None,
        })
    }

    /// The defined key a raw (still escaped) key names, if any. A key that does not decode
    /// is no defined key (the scan of unknown fields refuses it).
    pub(super) fn of_raw(raw: &str) -> Option<Key> {
        if !raw.as_bytes().contains(&b'\\') {
            return Key::from_name(raw.as_bytes());
        }
        let mut buf = [0u8; 16];
        Key::from_name(text::short(EscapedStr(raw), &mut buf).ok()??)
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Key::Ts => "ts",
            Key::Level => "level",
            Key::Event => "event",
            Key::Conn => "conn",
            Key::Peer => "peer",
            Key::Proto => "proto",
            Key::Addr => "addr",
            Key::Msg => "msg",
            Key::MsgHex => "msg_hex",
            Key::Partial => "partial",
            Key::Reason => "reason",
            Key::BytesIn => "bytes_in",
            Key::BytesOut => "bytes_out",
            Key::Total(i) => TotalFields::NAMES[usize::from(i) % 7],
        }
    }

    pub(super) fn bit(self) -> u32 {
        1 << match self {
            Key::Ts => 0,
            Key::Level => 1,
            Key::Event => 2,
            Key::Conn => 3,
            Key::Peer => 4,
            Key::Proto => 5,
            Key::Addr => 6,
            Key::Msg => 7,
            Key::MsgHex => 8,
            Key::Partial => 9,
            Key::Reason => 10,
            Key::BytesIn => 11,
            Key::BytesOut => 12,
            Key::Total(i) => 13 + u32::from(i % 7),
        }
    }
}

/// A key: `Some` defined key, `None` for any other.
pub(super) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<Key>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Key>, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<Key>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    /// serde-json-core hands keys over raw (escapes kept).
    fn visit_borrowed_str<E: de::Error>(self, raw: &'de str) -> Result<Option<Key>, E> {
        Ok(Key::of_raw(raw))
    }

    /// Other deserializers hand keys over decoded.
    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<Key>, E> {
        Ok(Key::from_name(name.as_bytes()))
    }
}
