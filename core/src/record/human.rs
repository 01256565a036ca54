//! The console form of a record: one line a person reads, never one a message can forge.

use core::fmt::{self, Write};

use super::{Event, Record};

/// Displays a record in its human form, e.g.
/// `2026-11-23T10:15:02.123Z INFO  127.0.0.1:50512 #17 echo: Hi There` or
/// `2026-11-23T10:15:02.123Z INFO  listening on 127.0.0.1:41234 (tcp)`.
///
/// Control characters in messages are shown escaped (`\n`, `\u{1b}`), and a binary message
/// as hex, so a message cannot fake a console line either. No trailing newline.
pub struct Human<'r, 'a>(pub &'r Record<'a>);

impl Record<'_> {
    /// The record's human form, for the console.
    pub fn human(&self) -> Human<'_, '_> {
        Human(self)
    }
}

impl fmt::Display for Human<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{} {:<5}", r.ts, r.level)?;
        if let Some(peer) = r.peer {
            f.write_char(' ')?;
            escaped(f, peer.as_bytes())?;
        }
        if let Some(conn) = r.conn {
            write!(f, " #{conn}")?;
        }
        f.write_char(' ')?;
        match r.event {
            Event::Listening => {
                f.write_str("listening on ")?;
                escaped(f, r.addr.unwrap_or("?").as_bytes())?;
                if let Some(proto) = r.proto {
                    write!(f, " ({proto})")?;
                }
            }
            Event::Echo | Event::Log | Event::Error => {
                if r.event != Event::Log {
                    write!(f, "{}: ", r.event)?;
                }
                message(f, r.msg.unwrap_or(b""))?;
            }
            Event::Closed => {
                f.write_str("closed")?;
                if let Some(reason) = r.reason {
                    write!(f, " ({reason})")?;
                }
                if let (Some(i), Some(o)) = (r.bytes_in, r.bytes_out) {
                    write!(f, ", {i} bytes in, {o} bytes out")?;
                }
            }
            Event::Shutdown => {
                f.write_str("shutdown")?;
                // Only the totals the record holds, each with its name.
                let names = super::TotalFields::NAMES;
                let mut sep = ": ";
                for (name, value) in names.into_iter().zip(r.totals.values()) {
                    if let Some(n) = value {
                        write!(f, "{sep}{name} {n}")?;
                        sep = ", ";
                    }
                }
                if let (Some(i), Some(o)) = (r.bytes_in, r.bytes_out) {
                    write!(f, ", {i} bytes in, {o} bytes out")?;
                }
            }
            Event::Connected | Event::Rejected | Event::Refused => {
                f.write_str(r.event.as_str())?;
                if let Some(proto) = r.proto {
                    write!(f, " {proto}")?;
                }
                if let Some(reason) = r.reason {
                    write!(f, " ({reason})")?;
                }
                if let Some(msg) = r.msg {
                    f.write_str(": ")?;
                    message(f, msg)?;
                }
            }
        }
        if r.is_partial() {
            f.write_str(" (partial)")?;
        }
        Ok(())
    }
}

/// Text as is but for control characters; anything that is not UTF-8 as `<hex ...>`.
fn message(f: &mut fmt::Formatter<'_>, msg: &[u8]) -> fmt::Result {
    if core::str::from_utf8(msg).is_ok() {
        escaped(f, msg)
    } else {
        f.write_str("<hex ")?;
        for b in msg {
            write!(f, "{b:02x}")?;
        }
        f.write_char('>')
    }
}

fn escaped(f: &mut fmt::Formatter<'_>, text: &[u8]) -> fmt::Result {
    let text = core::str::from_utf8(text).unwrap_or("");
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_debug())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::string::ToString;

    use super::*;
    use crate::record::Proto;
    use crate::time::Timestamp;

    fn ts() -> Timestamp {
        Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap()
    }

    #[test]
    fn listening_reads_as_the_product_says() {
        let r = Record {
            addr: Some("127.0.0.1:41234"),
            proto: Some(Proto::Tcp),
            ..Record::event(ts(), Event::Listening)
        };
        assert_eq!(
            r.human().to_string(),
            "2026-11-23T10:15:02.123Z INFO  listening on 127.0.0.1:41234 (tcp)"
        );
    }

    #[test]
    fn messages_cannot_forge_console_lines() {
        let r = Record {
            msg: Some(b"hi\n2026 ERROR fake"),
            ..Record::event(ts(), Event::Echo)
        };
        let s = r.human().to_string();
        assert!(!s.contains('\n'));
        assert!(s.ends_with("echo: hi\\n2026 ERROR fake"));
        let b = Record {
            msg: Some(&[0xff, 1]),
            ..Record::event(ts(), Event::Echo)
        };
        assert!(b.human().to_string().ends_with("<hex ff01>"));
    }
}
