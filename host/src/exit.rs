//! Exit codes and the one-line error report every subcommand uses.

use std::fmt::Write;
use std::process::ExitCode;

/// Everything worked (every echo matched, the archive was written, the server shut down).
pub const OK: u8 = 0;
/// The work failed on its data: a wrong or missing echo, a malformed log line.
pub const FAILED: u8 = 1;
/// The user's request could not be carried out: bad arguments, an address in use, a
/// missing input file, no permission, could not connect.
pub const USAGE: u8 = 2;

/// Prints `echokit COMMAND: error: CAUSE: CAUSE...` as one line on stderr and returns `code`.
pub fn report(command: &str, error: &anyhow::Error, code: u8) -> ExitCode {
    eprintln!(
        "echokit {command}: error: {}",
        one_line(&format!("{error:#}"))
    );
    ExitCode::from(code)
}

/// The text with newlines as spaces and other control characters escaped: causes quote
/// what the user typed (a host name, a file name), and a `\r` or an escape sequence in it
/// must not overwrite or restyle the line.
pub(crate) fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => line.push(' '),
            c if c.is_control() => {
                let _ = write!(line, "{}", c.escape_default());
            }
            c => line.push(c),
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_keeps_text_and_defuses_control_characters() {
        assert_eq!(
            one_line("could not resolve héllo:7"),
            "could not resolve héllo:7"
        );
        assert_eq!(one_line("a\nb"), "a b");
        assert_eq!(one_line("bad\rhost\u{1b}[2J"), "bad\\rhost\\u{1b}[2J");
    }
}
