//! Reading a secret line (the code) from the terminal without echo, like the password prompts
//! of ssh and sudo, and putting the terminal back on every exit path pcp controls: a normal
//! return, an error, a panic (the guard's `Drop`), and SIGINT/SIGTERM (the signal thread in
//! lib.rs calls [`restore`] before it exits the process).
//!
//! Owns: the terminal's echo flags while a hidden prompt waits. Also where a typed code
//! comes from ([`read_code`]: PCP_CODE, a code file, the prompt) and yes/no questions
//! ([`confirm`]).
//!
//! Not covered: SIGKILL and SIGQUIT (the process dies without running any code; `stty sane` or
//! `reset` repairs the terminal), and SIGTSTP (the shell takes the terminal back while pcp is
//! stopped).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::Result;

use crate::auth::Code;
use std::sync::{Mutex, PoisonError};

use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions, Termios};

/// The settings to put back while a hidden prompt waits, for [`restore`]. `None` otherwise.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Print `prompt` on stderr and read one line from stdin, which must be a terminal, without
/// echoing what is typed; a newline follows on stderr (the typed one is not shown). Line
/// editing (backspace) and Ctrl-C keep working. Returns the line with its newline, like
/// `read_line` (empty at end of input).
pub fn read_hidden_line(prompt: &str) -> std::io::Result<String> {
    // Echo goes off before the prompt shows, so nothing typed after it is ever displayed.
    let echo_off = EchoOff::new()?;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo_off);
    eprintln!();
    read.map(|_| line)
}

/// Put the terminal back if a hidden prompt is waiting; returns whether one was. For the
/// signal handler, which ends the process without unwinding the prompt's guard.
pub fn restore() -> bool {
    let saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner).take();
    match saved {
        Some(t) => {
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &t);
            true
        }
        None => false,
    }
}

/// The local modes of a hidden prompt: no echo of the typed characters, nor of the newline
/// (the prompt prints its own); canonical line editing and signal keys (Ctrl-C) stay as they
/// were.
fn hidden(modes: LocalModes) -> LocalModes {
    modes - LocalModes::ECHO - LocalModes::ECHONL
}

/// Echo is off on stdin while this lives; dropping it puts the old settings back.
struct EchoOff {
    old: Termios,
}

impl EchoOff {
    fn new() -> std::io::Result<Self> {
        let stdin = std::io::stdin();
        let old = tcgetattr(&stdin)?;
        let mut new = old.clone();
        new.local_modes = hidden(new.local_modes);
        // Saved before the change, so a signal arriving in between still restores.
        *SAVED.lock().unwrap_or_else(PoisonError::into_inner) = Some(old.clone());
        if let Err(e) = tcsetattr(&stdin, OptionalActions::Now, &new) {
            SAVED.lock().unwrap_or_else(PoisonError::into_inner).take();
            return Err(e.into());
        }
        Ok(Self { old })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        SAVED.lock().unwrap_or_else(PoisonError::into_inner).take();
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.old);
    }
}

/// The code of the side that types it: `PCP_CODE`, `--code-file FILE`, or a terminal prompt
/// that does not echo it. Never argv; with no terminal and no code, an error instead of a hang.
/// Set by `pcp cp -B` (scp's batch mode): never ask for anything on the terminal.
pub static BATCH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn read_code(code_file: Option<&Path>) -> Result<Code> {
    let batch = BATCH.load(std::sync::atomic::Ordering::Relaxed);
    let text = if let Some(s) = std::env::var("PCP_CODE").ok().filter(|s| !s.trim().is_empty()) {
        s
    } else if let Some(f) = code_file {
        // A code file planted behind another user's symlink would connect to their peer.
        let mut s = String::new();
        crate::fsio::trust::open_file(f)
            .map_err(|e| crate::error::tagged(crate::error::Kind::Usage, format!("cannot read the code file: {e}")))
            .and_then(|file| {
                use std::io::Read;
                file.take(4096).read_to_string(&mut s).map_err(|e| {
                    crate::error::tagged(
                        crate::error::Kind::Usage,
                        format!("cannot read the code file {}: {e}", f.display()),
                    )
                })
            })?;
        s.lines().next().unwrap_or("").to_owned()
    } else if batch {
        return Err(crate::error::tagged(
            crate::error::Kind::Usage,
            "no code: -B (batch mode) never asks; set PCP_CODE or pass --code-file FILE, or pair once",
        ));
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        // Typed without echo, like a password: the code stays off the screen and scrollback.
        crate::tty::read_hidden_line("Enter code (not shown): ").map_err(|e| {
            crate::error::tagged(
                crate::error::Kind::Usage,
                format!("cannot read the code from the terminal: {e}; set PCP_CODE or pass --code-file FILE instead"),
            )
        })?
    } else {
        return Err(crate::error::tagged(
            crate::error::Kind::Usage,
            "no code: set PCP_CODE, pass --code-file FILE, or run in a terminal to be asked (codes are never taken from the command line)",
        ));
    };
    Code::parse(text.trim()).map_err(|e| crate::error::tagged(crate::error::Kind::Usage, e.to_string()))
}

/// Whether a person can be asked: stdin and stderr are terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask a yes/no question on the terminal. No terminal: an error naming `--yes`.
pub fn confirm(question: &str) -> Result<bool> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(crate::error::tagged(
            crate::error::Kind::Usage,
            "cannot ask for confirmation without a terminal; pass --yes to accept",
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_modes_drop_only_the_echo() {
        let typical = LocalModes::ECHO
            | LocalModes::ECHOE
            | LocalModes::ECHOK
            | LocalModes::ECHONL
            | LocalModes::ICANON
            | LocalModes::ISIG
            | LocalModes::IEXTEN;
        let h = hidden(typical);
        assert!(!h.contains(LocalModes::ECHO) && !h.contains(LocalModes::ECHONL));
        assert!(h.contains(LocalModes::ICANON | LocalModes::ISIG | LocalModes::IEXTEN));
        assert_eq!(hidden(LocalModes::ICANON), LocalModes::ICANON);
    }

    #[test]
    fn restore_without_a_prompt_does_nothing() {
        assert!(!restore());
    }
}
