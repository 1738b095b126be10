//! `pcp cp`: scp-like copy. Overwrites, never deletes; permissions kept, times with -p; content
//! is always compared (not just size and time), so a copy is a copy.

use anyhow::Result;

use super::Outcome;
use crate::cli::CpArgs;
use crate::config::{Options, Reach};
use crate::error::{tagged, Kind};

/// `pcp cp`.
pub fn run(a: &CpArgs) -> Result<Outcome> {
    if a.batch {
        crate::tty::BATCH.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let reach = super::sync::reach_of(&a.paths);
    if reach == Reach::Local && !a.recursive {
        let (srcs, _) = a.paths.split_at(a.paths.len() - 1);
        for s in srcs {
            if std::fs::metadata(s).map(|m| m.is_dir()).unwrap_or(false) {
                return Err(tagged(Kind::Select, format!("{s} is a directory; use -r to copy directories")));
            }
        }
    }
    super::sync::transfer(&Options::cp(a, reach)?, &a.paths)
}
