//! `pcp send PATH...`: one-shot. Prints a code, waits, offers PATH... to whoever enters it
//! (`pcp receive` shows the full list and confirms), sends, exits. It never renews its code:
//! a failed code attempt ends it (exit 40), so it needs no guessing budget beyond CodeGuard's
//! one attempt per code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Outcome;
use crate::cli::SendArgs;
use crate::error::{tagged, Kind};
use crate::filter::Filter;
use crate::location::Location;
use crate::net::client::retryable;
use crate::net::handshake;
use crate::net::server::{self, Ended, Served};
use crate::net::session::{ListEntry, MAX_LIST_ENTRIES};
use crate::proto::Kind as EKind;
use crate::report::{Reporter, Stats};
use crate::scan::{self, ScanOptions, SourceSpec};

/// How long to wait for a dropped receiver to resume.
const RESUME_WAIT: Duration = Duration::from_secs(120);

/// `pcp send`.
pub fn run(a: &SendArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::remote::reported(&rep, send(a, &rep))
}

/// The specs and the list shown to the receiver.
fn offer(paths: &[String]) -> Result<(Vec<SourceSpec>, Vec<ListEntry>)> {
    let mut specs = Vec::new();
    for p in paths {
        let Location::Local { path, contents } = Location::parse(p) else {
            return Err(tagged(
                Kind::Usage,
                format!("{p}: pcp send takes local paths (write ./{p} for a name with ':')"),
            ));
        };
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(tagged(Kind::Select, format!("{p} does not exist; check the path")));
        }
        specs.push(SourceSpec::local(path, contents));
    }
    let mut entries = Vec::new();
    let opts = ScanOptions { recursive: true, links: true };
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
                EKind::File { size } => (0, size, Vec::new()),
                EKind::Dir => (1, 0, Vec::new()),
                EKind::Symlink { target } => (2, 0, target),
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
    let served = Served::Offer { specs, entries };
    let server::Listener { rt, ep, id, guard, resumes } = server::start_listening(a.listen.as_deref(), rep)?;
    let res = (|| -> Result<Outcome> {
        let mut waiting: Option<(Instant, anyhow::Error)> = None;
        loop {
            // One connection at a time; the endpoint counts it against its address until it
            // is authenticated (net::endpoint::HandshakeLimits).
            let pending = match &waiting {
                Some((t, _)) => {
                    let left = t.saturating_duration_since(Instant::now());
                    rt.block_on(async { tokio::time::timeout(left, ep.accept()).await.ok().flatten() })
                }
                None => rt.block_on(ep.accept()),
            };
            let Some(pending) = pending else {
                return Err(waiting.map(|(_, e)| e).unwrap_or_else(|| tagged(Kind::Connect, "the endpoint closed")));
            };
            let auth = match rt.block_on(handshake::listen(pending.conn(), &guard, &resumes, &id)) {
                Ok(x) => x,
                Err(e) => {
                    if crate::error::kind_of(&e) == Kind::Auth && waiting.is_none() {
                        return Err(e);
                    }
                    rep.warn(&crate::report::sanitize(&format!("{e:#}")));
                    continue;
                }
            };
            let conn = pending.authenticated();
            rep.peer_connected(conn.remote_address(), "direct", auth.resumed, auth.verifier.as_deref());
            if let Some(words) = auth.verifier.as_deref() {
                rep.verifier(words);
            }
            let stats = Arc::new(Stats::default());
            let start = Instant::now();
            match server::handle(&rt.handle().clone(), &conn, auth, &served, &resumes, rep, &stats) {
                Ok(Ended::Transfer(end)) => {
                    rep.stats(&stats, start.elapsed(), a.out.stats);
                    rt.block_on(ep.shutdown());
                    return Ok(if end.skipped > 0 || end.errors > 0 { Outcome::Partial } else { Outcome::Ok });
                }
                Ok(Ended::Declined) => {
                    rep.info("the receiver declined the offer");
                    return Ok(Outcome::Ok);
                }
                Ok(Ended::Refused(e)) => return Err(e),
                Ok(Ended::Listed) => return Ok(Outcome::Ok),
                Err(e) if retryable(&e) => {
                    rep.warn(&crate::report::sanitize(&format!("{e:#}; waiting for the receiver to reconnect")));
                    waiting = Some((Instant::now() + RESUME_WAIT, e));
                }
                Err(e) => return Err(e),
            }
        }
    })();
    // Let the peers hear about closed connections before the process exits.
    rt.block_on(ep.shutdown());
    res
}
