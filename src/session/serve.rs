//! The listener's side of a session: read the one request, confine it to what the policy
//! grants this peer, answer, and run the role it implies.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::driver::{run_role, RoleConfig, TransferEnd};
use super::policy::{Grant, Offered, ServedDir};
use crate::chunk::ChunkParams;
use crate::engine::destination::DestConfig;
use crate::engine::source::SourceConfig;
use crate::error::{tagged, Kind};
use crate::filter::{Filter, Rule};
use crate::fsio::served::{self, Found, Refusal};
use crate::net::conn::{Answer, Close, Conn};
use crate::net::listen::Listener;
use crate::path::SafeRelPath;
use crate::proto::session::{ListEntry, PeerPath, Request, Response, ENTRIES_PER_FRAME};
use crate::proto::Flags;
use crate::report::{Reporter, Stats};
use crate::scan::{ScanOptions, SourceSpec};

/// Flags a peer may set for a transfer into or out of the served tree.
const PEER_FLAGS: u64 = Flags::DELETE
    | Flags::DRY_RUN
    | Flags::CHECKSUM
    | Flags::PERMS
    | Flags::TIMES
    | Flags::LINKS
    | Flags::SAFE_LINKS
    | Flags::COMPRESS
    | Flags::ROOT_MODE
    | Flags::UPDATE
    | Flags::IGNORE_EXISTING
    | Flags::SIZE_ONLY
    | Flags::IGNORE_TIMES
    | Flags::OMIT_DIR_TIMES
    | Flags::EXISTING
    | Flags::ECHO_CHANGES
    | Flags::DELETE_EXCLUDED
    | Flags::MKPATH;

/// How long an authenticated peer has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a receiver has to confirm an offer (a person reads the list).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(600);
/// How long to wait for the dialer to close after a final answer.
const LINGER: Duration = Duration::from_secs(10);

/// How a served session ended.
#[derive(Debug)]
pub enum Ended {
    /// A transfer ran.
    Transfer(TransferEnd),
    /// A listing was sent.
    Listed,
    /// The request was refused (reason sent to the peer).
    Refused(anyhow::Error),
    /// The receiver declined the offer.
    Declined,
    /// A `pcp pair` dialer heard that the pairing is stored.
    Paired,
}

enum Plan {
    Role(RoleConfig, Response),
    List(Vec<ListEntry>),
    Offer,
    Pair,
}

fn refusal(r: Refusal) -> Response {
    Response::Refused { code: r.kind.code(), text: r.text }
}

fn refuse(kind: Kind, text: impl Into<String>) -> Response {
    Response::Refused { code: kind.code(), text: text.into() }
}

fn frames(list: &[Response]) -> Vec<u8> {
    list.iter().flat_map(Response::encode).collect()
}

fn entry_frames(entries: &[ListEntry]) -> Vec<Response> {
    let mut out: Vec<Response> = entries.chunks(ENTRIES_PER_FRAME).map(|c| Response::Entries(c.to_vec())).collect();
    out.push(Response::End { count: entries.len() as u64 });
    out
}

/// Serve one authenticated connection under `grant`. The listener binds the session's resume
/// ticket to its first request: a resumed connection may only repeat it.
pub fn handle(
    conn: &mut Conn,
    grant: Grant<'_>,
    listener: &Listener,
    rep: &Reporter,
    stats: &Arc<Stats>,
    stop: &'static AtomicBool,
) -> Result<Ended> {
    // The lease lives until this function returns: until then a resume of this session waits.
    let _lease = conn.take_lease();
    let body = conn.recv_frame(Some((REQUEST_TIMEOUT, "the peer sent no request within 30 s")))?;
    if let Err(text) = listener.bind_request(&conn.peer(), conn.resumed(), &body) {
        conn.finish_with(&refuse(Kind::Protocol, text).encode(), LINGER);
        rep.warn(&format!("refused a request: {text}"));
        return Ok(Ended::Refused(tagged(Kind::Protocol, format!("refused a request: {text}"))));
    }
    let plan = match Request::decode(&body) {
        // A path outside what is served: answer with the reason, like any other refusal.
        Err(crate::proto::Error::PeerPath(text)) => Err(refuse(Kind::Select, text)),
        Err(e) => return Err(e.into()),
        Ok(req) => plan(&grant, req, stop),
    };
    let plan = match plan {
        Ok(p) => p,
        Err(resp) => {
            let (kind, text) = match &resp {
                Response::Refused { code, text } => (Kind::from_code(*code), text.clone()),
                _ => (Kind::Select, String::new()),
            };
            conn.finish_with(&resp.encode(), LINGER);
            rep.warn(&format!("refused a request: {}", crate::report::sanitize(&text)));
            return Ok(Ended::Refused(tagged(kind, format!("refused a request: {text}"))));
        }
    };
    match plan {
        Plan::Role(role, ok) => {
            conn.send_frame(&ok.encode())?;
            Ok(Ended::Transfer(run_role(conn, Answer::Read, role, rep, stats, stop)?))
        }
        Plan::List(entries) => {
            conn.finish_with(&frames(&entry_frames(&entries)), LINGER);
            Ok(Ended::Listed)
        }
        Plan::Pair => {
            // The handshake stored the pairing before this request was read.
            conn.finish_with(&Response::Ok { is_dir: false }.encode(), LINGER);
            Ok(Ended::Paired)
        }
        Plan::Offer => {
            let Grant::Offer(offered) = grant else {
                return Err(crate::net::error::Error::Internal("offer without files").into());
            };
            offer(conn, offered, rep, stats, stop)
        }
    }
}

/// `pcp send`: show the list, wait for the receiver's answer, send.
fn offer(conn: &mut Conn, o: &Offered, rep: &Reporter, stats: &Arc<Stats>, stop: &'static AtomicBool) -> Result<Ended> {
    conn.send_frame(&frames(&entry_frames(&o.entries)))?;
    // The receiver may take its time to decide (a person reads the list).
    let answer = conn.recv_frame(Some((CONFIRM_TIMEOUT, "the receiver did not answer the offer within 10 minutes")))?;
    match Response::decode(&answer)? {
        Response::Confirm { accept: true } => {}
        Response::Confirm { accept: false } => {
            conn.close(Close::Done, b"declined");
            return Ok(Ended::Declined);
        }
        _ => return Err(crate::proto::Error::Malformed("expected the receiver's confirmation").into()),
    }
    let cfg = SourceConfig {
        manifest: None,
        specs: o.specs.clone(),
        scan: ScanOptions { recursive: true, links: true, one_file_system: false, prune_empty_dirs: false },
        filter: Filter::none(),
        params: ChunkParams::DEFAULT,
        compress: true,
        flags: Flags(Flags::PERMS | Flags::TIMES | Flags::LINKS | Flags::SAFE_LINKS),
        max_delete: 0,
        bwlimit: None,
    };
    Ok(Ended::Transfer(run_role(conn, Answer::Read, RoleConfig::Source(Box::new(cfg)), rep, stats, stop)?))
}

fn filter_from(rules: Vec<Rule>, gitignore: bool) -> Result<Filter, Response> {
    Filter::new(rules, gitignore).map_err(|e| refuse(Kind::Usage, e.to_string()))
}

fn plan(grant: &Grant<'_>, req: Request, stop: &'static AtomicBool) -> Result<Plan, Response> {
    if req == Request::Pair {
        // Grants nothing: whatever this peer may reach, it may hear that it is paired.
        return Ok(Plan::Pair);
    }
    let (served, read_only) = match grant {
        Grant::Dir { served, read_only } => (*served, *read_only),
        Grant::Denied(text) => return Err(refuse(Kind::Auth, text.clone())),
        Grant::Offer(_) => {
            return match req {
                Request::Offer => Ok(Plan::Offer),
                _ => Err(refuse(Kind::Usage, "this peer runs `pcp send`; use `pcp receive` to get its files")),
            }
        }
    };
    match req {
        Request::Offer => Err(refuse(Kind::Usage, "this peer runs `pcp serve`; use pcp sync, cp or ls with PEER:PATH")),
        Request::Pair => Ok(Plan::Pair),
        Request::List { path } => served::list(&served.root, path.rel()).map(Plan::List).map_err(refusal),
        Request::Push { path, flags, max_delete, single_file, dir_as_new: _, rules, gitignore, tuning } => {
            if read_only {
                return Err(refuse(
                    Kind::Usage,
                    "this peer serves its directory read-only to you (--read-only, or read_only / a root-ro root for your pairing); pull from it instead",
                ));
            }
            let how = PushHow { flags, max_delete, single_file, tuning };
            push(served, &path, how, filter_from(rules, gitignore)?, stop)
        }
        Request::Pull { path, flags, scan, rename_if_file, contents_if_dir, rules, gitignore } => {
            let rel = path.rel();
            let found = served::lookup(&served.root, rel).map_err(refusal)?;
            if found == Found::Missing {
                return Err(refuse(Kind::Select, format!("{rel}: no such file or directory on the peer")));
            }
            let is_dir = found == Found::Dir;
            let spec = SourceSpec {
                path: PathBuf::from(rel.as_str()),
                contents: is_dir && (path.slash() || rel.is_root() || contents_if_dir),
                rename: rename_if_file.filter(|_| !is_dir).map(|n| n.as_str().to_owned()),
                within: Some(served.root.clone()),
            };
            let flags = Flags(flags.0 & PEER_FLAGS);
            let cfg = SourceConfig {
                manifest: Some(crate::config::manifest_for(&rel.under(&served.dir))),
                specs: vec![spec],
                scan: ScanOptions {
                    recursive: scan.recursive,
                    links: scan.links,
                    one_file_system: scan.one_file_system,
                    prune_empty_dirs: scan.prune_empty_dirs,
                },
                filter: filter_from(rules, gitignore)?,
                params: ChunkParams::DEFAULT,
                compress: flags.has(Flags::COMPRESS),
                flags,
                max_delete: 0,
                bwlimit: None,
            };
            Ok(Plan::Role(RoleConfig::Source(Box::new(cfg)), Response::Ok { is_dir }))
        }
    }
}

/// A push into `path`: the destination root (created when missing, unless -n) held open
/// beneath the served directory.
/// What a push asks of the destination, besides its path and rules.
struct PushHow {
    flags: Flags,
    max_delete: u64,
    single_file: bool,
    tuning: crate::proto::session::Tuning,
}

fn push(
    served: &ServedDir,
    path: &PeerPath,
    how: PushHow,
    filter: Filter,
    stop: &'static AtomicBool,
) -> Result<Plan, Response> {
    let PushHow { flags, max_delete, single_file, tuning } = how;
    let rel = path.rel();
    let found = served::lookup(&served.root, rel).map_err(refusal)?;
    if found == Found::Link {
        return Err(refuse(Kind::Select, format!("destination {rel} is a symlink; refused")));
    }
    let is_dir = found == Found::Dir;
    let rename = single_file && !is_dir && !path.slash() && !rel.is_root();
    let root_rel =
        if rename { rel.split_last().map(|(p, _)| p).unwrap_or_else(SafeRelPath::root) } else { rel.clone() };
    if !rename && found == Found::Other {
        return Err(refuse(Kind::Select, format!("destination {rel} is not a directory")));
    }
    // As rsync: only the destination's last component is created, unless --mkpath.
    if !flags.has(Flags::MKPATH) && !flags.has(Flags::DRY_RUN) {
        if let Some((parent, _)) = root_rel.split_last() {
            if served::lookup(&served.root, &parent).map_err(refusal)? == Found::Missing {
                return Err(refuse(
                    Kind::FileIo,
                    format!(
                        "cannot create {root_rel}: {parent} does not exist on the peer; pass --mkpath to create it"
                    ),
                ));
            }
        }
    }
    let root = root_rel.under(&served.dir);
    let root_fd = if flags.has(Flags::DRY_RUN) {
        // -n changes nothing, not even missing directories (lookup checked the path).
        None
    } else {
        // Hold the root, opened beneath the served directory with no symlink followed: the
        // destination role writes there, not wherever the path leads by then.
        Some(Arc::new(served::make_dirs(&served.root, &root_rel).map_err(refusal)?))
    };
    // --backup-dir: relative to the destination, and never outside the served directory
    // (as an rsync daemon's module); opened beneath it with no symlink followed.
    let backup_fd = match tuning.backup.as_ref().and_then(|b| b.dir.as_deref()) {
        Some(d) if !flags.has(Flags::DRY_RUN) => {
            let rel = beneath(&root_rel, d).ok_or_else(|| {
                refuse(
                    Kind::Usage,
                    format!("--backup-dir {d:?} leads outside the served directory; give one inside it"),
                )
            })?;
            Some(Arc::new(served::make_dirs(&served.root, &rel).map_err(refusal)?))
        }
        _ => None,
    };
    let mut flags = flags.0 & PEER_FLAGS;
    if root_rel.is_root() {
        // T16: never change the served directory itself from peer data.
        flags &= !Flags::ROOT_MODE;
    }
    let cfg = DestConfig {
        manifest: Some(crate::config::manifest_for(&root)),
        root,
        flags: Flags(flags),
        max_delete,
        filter,
        fsync: true,
        umask: crate::config::umask(),
        bwlimit: None,
        wait_lock: SERVE_WAIT_LOCK,
        offer: None,
        root_fd,
        stop,
        count_list: true,
        tuning,
        backup_fd,
    };
    Ok(Plan::Role(RoleConfig::Destination(Box::new(cfg)), Response::Ok { is_dir }))
}

/// How long a push into a served root waits for another session writing there: longer than
/// the idle timeout, so a rerun after a client crashed waits for the dead session to time out
/// instead of failing (or, before the lock, interleaving with it).
const SERVE_WAIT_LOCK: std::time::Duration = std::time::Duration::from_secs(45);

/// `dir` (relative, `..` allowed) resolved against `base` inside the served tree; `None` if it
/// is absolute or leaves the tree.
fn beneath(base: &SafeRelPath, dir: &str) -> Option<SafeRelPath> {
    if dir.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.components().collect();
    for c in dir.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    parts.into_iter().try_fold(SafeRelPath::root(), |p, c| p.join(c).ok())
}
