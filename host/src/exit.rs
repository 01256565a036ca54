//! Exit codes and the one-line error report every subcommand uses.

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
    let text = format!("{error:#}").replace('\n', " ");
    stderr_line(&format!("echokit {command}: error: {text}"));
    ExitCode::from(code)
}

/// Writes one line to stderr. Unlike `eprintln!`, a closed stderr is ignored rather than a
/// panic: a server whose terminal went away must keep echoing and exit cleanly.
pub fn stderr_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
