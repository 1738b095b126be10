//! One file per subcommand; each turns resolved options into work and an exit code.

pub mod completions;
pub mod cp;
pub mod ls;
pub mod pair;
pub mod peers;
pub mod receive;
pub mod rendezvous;
pub mod send;
pub mod serve;
pub mod sync;

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything done.
    Ok,
    /// Some entries failed (exit 23).
    Partial,
}

/// Emit the `--json` error event of a failed command.
pub fn reported(rep: &crate::report::Reporter, r: anyhow::Result<Outcome>) -> anyhow::Result<Outcome> {
    if let Err(e) = &r {
        rep.error_event(e);
    }
    r
}

/// `--verify`: show the verifier words and ask whether the peer shows the same.
pub fn verify_prompt(words: &str) -> anyhow::Result<bool> {
    crate::tty::confirm(&format!("Verifier: {words}\nDoes the other side show exactly these words?"))
}
