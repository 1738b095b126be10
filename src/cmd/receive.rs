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
use crate::net::client::{confirm, read_code, Dialer};
use crate::net::handshake::close;
use crate::net::session::{self, read_entries, write_frame, ListEntry, Request, Response, RoleConfig};
use crate::path::SafeRelPath;
use crate::plan::{link_is_safe, Offer, Offered};
use crate::proto::Flags;
use crate::report::{human, Reporter, Stats};

/// `pcp receive`.
pub fn run(a: &ReceiveArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::remote::reported(&rep, receive(a, &rep))
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
        .filter(|e| e.kind == 2)
        .filter(|e| {
            let p = if e.name == "." { Ok(SafeRelPath::root()) } else { SafeRelPath::new(&e.name) };
            p.map(|p| !link_is_safe(&p, &e.target)).unwrap_or(true)
        })
        .count()
}

/// The entries the receiver accepts: exactly the listed ones, with their kind, size and target.
fn offer_of(entries: &[ListEntry]) -> Offer {
    let mut o = Offer::default();
    for e in entries {
        let what = match e.kind {
            0 => Offered::File { size: e.size },
            1 => Offered::Dir,
            2 => Offered::Symlink { target: e.target.clone() },
            _ => continue,
        };
        o.insert(e.name.clone(), what);
    }
    o
}

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
    let mut d = Dialer::new("sender", &a.conn, code, crate::net::endpoint::Bulk::Receive)?;
    let rt = d.handle();
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    // What the user accepted; a reconnect may deliver only these (the destination role checks
    // every entry against it).
    let mut accepted: Option<Arc<Offer>> = None;
    let end = d.with_retries(a.conn.retries, rep, |d, _| {
        let (conn, mut auth) = d.connect(rep)?;
        rt.block_on(write_frame(&mut auth.send, &Request::Offer.encode()))?;
        let entries = rt.block_on(read_entries(&mut auth.recv))?;
        if accepted.is_none() {
            rep.offer(&entries, escaping_links(&entries));
            let files = entries.iter().filter(|e| e.kind == 0).count();
            let total: u64 = entries.iter().filter(|e| e.kind == 0).map(|e| e.size).sum();
            let yes = a.yes
                || confirm(&format!(
                    "Receive {} entries ({files} files, {}) into {}?",
                    entries.len(),
                    human(total),
                    crate::report::sanitize(&dest.display().to_string())
                ))?;
            if !yes {
                rt.block_on(write_frame(&mut auth.send, &Response::Confirm { accept: false }.encode()))?;
                let _ = auth.send.finish();
                let _ =
                    rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(5), conn.closed()).await });
                conn.close(quinn::VarInt::from_u32(close::DONE), b"declined");
                return Ok(None);
            }
            accepted = Some(Arc::new(offer_of(&entries)));
        }
        let Some(offer) = &accepted else {
            return Err(anyhow::anyhow!("offer not accepted (internal error)"));
        };
        rt.block_on(write_frame(&mut auth.send, &Response::Confirm { accept: true }.encode()))?;
        std::fs::create_dir_all(&dest)
            .map_err(|e| tagged(Kind::FileIo, format!("creating {}: {e}", dest.display())))?;
        let cfg = DestConfig {
            manifest: Some(crate::config::manifest_for(&dest)),
            root: dest.clone(),
            flags: Flags(Flags::PERMS | Flags::TIMES | Flags::LINKS | Flags::SAFE_LINKS),
            max_delete: 0,
            filter: Filter::none(),
            fsync: !a.no_fsync,
            umask: crate::config::umask(),
            bwlimit: None,
            offer: Some(offer.clone()),
            root_fd: None,
        };
        let r = session::run_role(
            &rt,
            &conn,
            session::Stream0 { send: auth.send, recv: auth.recv, answer: session::Answer::Read },
            RoleConfig::Destination(Box::new(cfg)),
            rep,
            &stats,
        );
        r.map(Some)
    })?;
    let Some(end) = end else {
        rep.info("declined; nothing received");
        return Ok(Outcome::Ok);
    };
    rep.stats(&stats, start.elapsed(), a.out.stats);
    rep.info(&format!("received into {}", crate::report::sanitize(&dest.display().to_string())));
    Ok(if end.skipped > 0 || end.errors > 0 { Outcome::Partial } else { Outcome::Ok })
}
