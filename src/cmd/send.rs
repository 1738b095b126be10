//! `pcp send PATH...`: one-shot. Prints a code, waits, offers PATH... to whoever enters it
//! (`pcp receive` shows the full list and confirms), sends, exits. It never renews its code:
//! a failed code attempt ends it (exit 40), so it needs no guessing budget beyond CodeGuard's
//! one attempt per code.

use anyhow::Result;

use super::Outcome;
use crate::cli::SendArgs;
use crate::error::{tagged, Kind};
use crate::filter::Filter;
use crate::net::listen::Listener;
use crate::proto::session::{ListEntry, ListKind, MAX_LIST_ENTRIES};
use crate::proto::Kind as EKind;
use crate::report::Reporter;
use crate::scan::{self, ScanOptions, SourceSpec};
use crate::session::accept::{Mode, Server};
use crate::session::policy::{Offered, Policy};

/// `pcp send`.
pub fn run(a: &SendArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::reported(&rep, send(a, &rep))
}

/// The specs and the list shown to the receiver.
fn offer(paths: &[String]) -> Result<(Vec<SourceSpec>, Vec<ListEntry>)> {
    let specs = SourceSpec::from_local_args(paths, |p| {
        format!("{p}: pcp send takes local paths (write ./{p} for a name with ':')")
    })?;
    let mut entries = Vec::new();
    let opts = ScanOptions { recursive: true, links: true, one_file_system: false, prune_empty_dirs: false };
    for spec in &specs {
        let mut emit = |item: scan::Item| -> Result<()> {
            if entries.len() as u64 >= MAX_LIST_ENTRIES {
                return Err(tagged(
                    Kind::Select,
                    format!("more than {MAX_LIST_ENTRIES} entries; send fewer files at once"),
                ));
            }
            let e = item.entry;
            let (kind, size, target) = match e.kind {
                EKind::File { size } => (ListKind::File, size, Vec::new()),
                EKind::Dir => (ListKind::Dir, 0, Vec::new()),
                EKind::Symlink { target } => (ListKind::Symlink, 0, target),
            };
            let name = if e.path.is_root() { ".".to_owned() } else { e.path.as_str().to_owned() };
            entries.push(ListEntry { name, kind, size, mode: e.mode, mtime: e.mtime, target });
            Ok(())
        };
        let mut skip = |_s: scan::Skip| {};
        scan::scan(spec, opts, &Filter::none(), &mut emit, &mut skip)?;
    }
    Ok((specs, entries))
}

fn send(a: &SendArgs, rep: &Reporter) -> Result<Outcome> {
    let (specs, entries) = offer(&a.paths)?;
    let policy = Policy::Send(Offered { specs, entries });
    let listener = Listener::bind(a.listen.as_deref(), rep, None, &crate::config::reach(&a.reach, &a.relay)?)?;
    let server =
        Server { listener: &listener, policy: &policy, rep, show_stats: a.out.stats, stop: &crate::INTERRUPTED };
    server.run(Mode::OneShot)
}
