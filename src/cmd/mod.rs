//! One file per subcommand; each turns resolved options into work and an exit code.

pub mod completions;
pub mod cp;
pub mod ls;
pub mod receive;
pub mod remote;
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
