//! Interactive mode: `Input: ` prompt on a terminal, one line and its echo at a time.

use std::io::{self, BufRead, Write};

use super::lines::{exchange, print_echo};
use super::{Config, Error, connect};

/// Prompts, sends each typed line, prints its echo; Ctrl-D (end of input) or Ctrl-C ends
/// it with exit 0.
pub fn run(config: &Config) -> Result<(), Error> {
    let (mut link, _) = connect(config)?;
    exit_on_ctrl_c();
    let mut input = io::stdin().lock();
    let mut out = io::stdout().lock();
    let mut number = 0;
    loop {
        prompt(&mut out, b"Input: ")?;
        let mut line = Vec::new();
        if input.read_until(b'\n', &mut line).map_err(Error::Input)? == 0 {
            // Ctrl-D at the prompt: end the prompt's line so the shell starts on its own.
            return prompt(&mut out, b"\n");
        }
        if cfg!(windows) && line.ends_with(b"\r\n") {
            // A Windows console ends a typed line with "\r\n": send what a terminal sends.
            line.truncate(line.len() - 2);
            line.push(b'\n');
        }
        if line.last() != Some(&b'\n') {
            // Ctrl-D after some text sends it without a newline: finish the terminal line.
            prompt(&mut out, b"\n")?;
            line.push(b'\n');
        }
        if link.is_closed() {
            // The server closes idle connections (after --idle-timeout): the user typing
            // again after a pause expects it to just work.
            crate::exit::stderr_line(&format!(
                "echokit client: {} closed the connection; reconnecting",
                config.target
            ));
            link = connect(config)?.0;
        }
        number += 1;
        exchange(link.as_mut(), &line, config, || format!("line {number}"))?;
        print_echo(&mut out, &line[..line.len() - 1])?;
    }
}

fn prompt(out: &mut impl Write, text: &[u8]) -> Result<(), Error> {
    out.write_all(text)
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// Ctrl-C ends the session at once with exit 0 (blocking terminal reads are restarted
/// after a signal, so a flag would only be seen after the next Enter).
#[cfg(unix)]
fn exit_on_ctrl_c() {
    let action = || {
        // Safety: write(2) on a static buffer is async-signal-safe.
        unsafe { libc::write(libc::STDOUT_FILENO, b"\n".as_ptr().cast(), 1) };
        signal_hook::low_level::exit(0);
    };
    // Safety: the action calls only async-signal-safe functions (write, _exit).
    let registered =
        unsafe { signal_hook::low_level::register(signal_hook::consts::SIGINT, action) };
    // Without the handler, Ctrl-C still ends the client (by the default action), just not
    // with exit 0: worth a warning, not a failure.
    if let Err(error) = registered {
        crate::exit::stderr_line(&format!(
            "echokit client: warning: cannot handle Ctrl-C: {error}"
        ));
    }
}

/// Windows: Ctrl-C, Ctrl-Break or closing the console ends the session with exit 0 (the
/// handler runs on its own thread while the main one waits for a line). Ctrl-Z + Enter is
/// end of input, as Ctrl-D is on Unix.
#[cfg(windows)]
fn exit_on_ctrl_c() {
    let registered = crate::os::console::on_event(|_| {
        crate::os::console::write_stdout_raw(b"\r\n");
        std::process::exit(0);
    });
    if let Err(error) = registered {
        crate::exit::stderr_line(&format!(
            "echokit client: warning: cannot handle Ctrl-C: {error}"
        ));
    }
}
