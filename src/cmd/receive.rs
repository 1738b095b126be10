//! `pcp receive [DEST]`: one-shot. Asks for the code, shows everything the sender offers
//! (names sanitised), asks to confirm (`--yes` skips it; no terminal and no `--yes` is an
//! error), receives into DEST (default: a new directory, never `$HOME`). Symlinks that point
//! outside the received tree are dropped, and it says so.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::Outcome;
use crate::cli::ReceiveArgs;
use crate::engine::destination::DestConfig;
use crate::error::{tagged, Kind};
use crate::filter::Filter;
use crate::path::SafeRelPath;
use crate::plan::link_is_safe;
use crate::proto::session::{ListEntry, ListKind};
use crate::proto::Flags;
use crate::report::{human, Reporter, Stats};
use crate::session::dial::{self, Decision};
use crate::tty::{confirm, read_code};

/// `pcp receive`.
pub fn run(a: &ReceiveArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::reported(&rep, receive(a, &rep))
}

/// A directory name that does not exist yet: `pcp-received`, `pcp-received-2`, ...
fn default_dest() -> PathBuf {
    let mut p = PathBuf::from("pcp-received");
    let mut n = 2;
    while std::fs::symlink_metadata(&p).is_ok() && n < 10_000 {
        p = PathBuf::from(format!("pcp-received-{n}"));
        n += 1;
    }
    p
}

fn escaping_links(entries: &[ListEntry]) -> usize {
    entries
        .iter()
        .filter(|e| e.kind == ListKind::Symlink)
        .filter(|e| {
            let p = if e.name == "." { Ok(SafeRelPath::root()) } else { SafeRelPath::new(&e.name) };
            p.map(|p| !link_is_safe(&p, &e.target)).unwrap_or(true)
        })
        .count()
}

/// The entries the receiver accepts: exactly the listed ones, with their kind, size and target.
fn receive(a: &ReceiveArgs, rep: &Reporter) -> Result<Outcome> {
    let dest = a.dest.clone().unwrap_or_else(default_dest);
    // Before the code is spent: no writes through someone else's symlink.
    crate::fsio::trust::check(&dest)?;
    // Refuse before the code is spent, not after showing the list.
    let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !a.yes && !tty {
        return Err(tagged(Kind::Usage, "cannot ask for confirmation without a terminal; pass --yes to accept"));
    }
    let code = read_code(a.conn.code_file.as_deref())?;
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let verify = super::verify_prompt;
    let cx = dial::Ctx { rep, stop: &crate::INTERRUPTED, verify: &verify };
    let decide = |entries: &[ListEntry]| -> Result<Decision> {
        rep.offer(entries, escaping_links(entries));
        let files = entries.iter().filter(|e| e.kind == ListKind::File).count();
        let total: u64 = entries.iter().filter(|e| e.kind == ListKind::File).map(|e| e.size).sum();
        let yes = a.yes
            || confirm(&format!(
                "Receive {} entries ({files} files, {}) into {}?",
                entries.len(),
                human(total),
                crate::report::sanitize(&dest.display().to_string())
            ))?;
        if !yes {
            return Ok(Decision::Decline);
        }
        Ok(Decision::Accept(Box::new(DestConfig {
            manifest: Some(crate::config::manifest_for(&dest)),
            root: dest.clone(),
            flags: Flags(Flags::PERMS | Flags::TIMES | Flags::LINKS | Flags::SAFE_LINKS),
            max_delete: 0,
            filter: Filter::none(),
            fsync: !a.no_fsync,
            umask: crate::config::umask(),
            bwlimit: None,
            wait_lock: std::time::Duration::ZERO,
            offer: None,
            root_fd: None,
            stop: &crate::INTERRUPTED,
            count_list: true,
            tuning: Default::default(),
            backup_fd: None,
        })))
    };
    let end = dial::receive(
        &crate::config::dial_options(&a.conn, &crate::config::config_file()?, None),
        code,
        &cx,
        &stats,
        a.yes,
        decide,
    )?;
    let Some(end) = end else {
        rep.info("declined; nothing received");
        return Ok(Outcome::Ok);
    };
    rep.stats(&stats, start.elapsed(), a.out.stats);
    rep.info(&format!("received into {}", crate::report::sanitize(&dest.display().to_string())));
    Ok(if end.partial() { Outcome::Partial } else { Outcome::Ok })
}
