//! The listener's side of a session: read the request, confine it to the served directory (or
//! to what `pcp send` offers), answer, and run the role it implies.
//!
//! Owns: the serving policy (read-only, what each request may touch). Does not own: the codec
//! and the path checks (net::session), the accept loop (cmd::serve, cmd::send).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use quinn::Connection;
use tokio::runtime::Handle;

use super::handshake::{Authenticated, ResumeTable};
use super::session::{
    self, filter_from, lookup, make_dirs, parse_peer_path, refusal, Found, ListEntry, Request, Response, RoleConfig,
    TransferEnd, ENTRIES_PER_FRAME,
};
use crate::chunk::ChunkParams;
use crate::engine::destination::DestConfig;
use crate::engine::source::SourceConfig;
use crate::error::{tagged, Kind};
use crate::path::SafeRelPath;
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
    | Flags::ROOT_MODE;

/// How long an authenticated peer has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a receiver has to confirm an offer (a person reads the list).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(600);

/// What this listener serves.
/// What a listening command (`serve`, `send`) starts with.
pub struct Listener {
    /// The async runtime the endpoint lives on.
    pub rt: tokio::runtime::Runtime,
    /// The bound endpoint.
    pub ep: super::endpoint::Endpoint,
    /// This process's identity for the handshake.
    pub id: crate::auth::Identity,
    /// The printed one-time code, one PAKE attempt, expiring.
    pub guard: super::handshake::CodeGuard,
    /// Resume secrets of authenticated sessions.
    pub resumes: super::handshake::ResumeTable,
}

/// Bind `listen` (default `DEFAULT_LISTEN`), then print the address and a new code.
pub fn start_listening(listen: Option<&str>, rep: &Reporter) -> Result<Listener> {
    let listen = listen.unwrap_or(super::connect::DEFAULT_LISTEN);
    let addr = listen.parse().map_err(|_| {
        tagged(Kind::Usage, format!("--listen {listen:?}: give an address like 0.0.0.0:7878 or [::]:0"))
    })?;
    let code = super::client::new_code()?;
    let rt = super::client::runtime()?;
    let ep = {
        let _g = rt.enter();
        super::endpoint::Endpoint::bind(addr, super::endpoint::Bulk::Either, super::endpoint::IDLE_TIMEOUT)?
    };
    let id = super::client::identity()?;
    rep.listening(ep.local_addr()?);
    rep.code(&code.to_string());
    let guard = super::handshake::CodeGuard::new(code, super::handshake::CODE_TTL);
    Ok(Listener { rt, ep, id, guard, resumes: super::handshake::ResumeTable::default() })
}

pub enum Served {
    /// `pcp serve DIR`.
    Dir {
        /// The served directory (canonical).
        dir: PathBuf,
        /// The served directory, held open: what a peer pulls is read beneath it.
        root: Arc<crate::fsio::source::SourceRoot>,
        /// Refuse pushes.
        read_only: bool,
    },
    /// `pcp send PATH...`.
    Offer {
        /// What to send.
        specs: Vec<SourceSpec>,
        /// The list shown to the receiver.
        entries: Vec<ListEntry>,
    },
}

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
}

enum Plan {
    Role(RoleConfig, Response),
    List(Vec<ListEntry>),
    Offer,
}

/// Serve one authenticated connection. `resumes` binds the session's resume ticket to its
/// first request: a resumed connection may only repeat it.
pub fn handle(
    rt: &Handle,
    conn: &Connection,
    auth: Authenticated,
    served: &Served,
    resumes: &ResumeTable,
    rep: &Reporter,
    stats: &Arc<Stats>,
) -> Result<Ended> {
    // The lease lives until this function returns: until then a resume of this session waits.
    let Authenticated { mut send, mut recv, resumed, peer, lease: _lease, .. } = auth;
    let body = rt
        .block_on(async { tokio::time::timeout(REQUEST_TIMEOUT, session::read_frame(&mut recv)).await })
        .map_err(|_| tagged(Kind::Timeout, "the peer sent no request within 30 s"))??;
    let req = Request::decode(&body)?;
    if let Err(text) = resumes.bind_request(&peer, resumed, &body) {
        finish_with(rt, conn, &mut send, &[refusal(Kind::Protocol, text)]);
        rep.warn(&format!("refused a request: {text}"));
        return Ok(Ended::Refused(tagged(Kind::Protocol, format!("refused a request: {text}"))));
    }
    let plan = match plan(served, req) {
        Ok(p) => p,
        Err(resp) => {
            let text = match &resp {
                Response::Refused { text, .. } => text.clone(),
                _ => String::new(),
            };
            let kind = match &resp {
                Response::Refused { code, .. } if *code == Kind::Usage.code() => Kind::Usage,
                Response::Refused { code, .. } if *code == Kind::FileIo.code() => Kind::FileIo,
                _ => Kind::Select,
            };
            finish_with(rt, conn, &mut send, &[resp]);
            rep.warn(&format!("refused a request: {}", crate::report::sanitize(&text)));
            return Ok(Ended::Refused(tagged(kind, format!("refused a request: {text}"))));
        }
    };
    match plan {
        Plan::Role(role, ok) => {
            rt.block_on(session::write_frame(&mut send, &ok.encode()))?;
            let end = session::run_role(
                rt,
                conn,
                session::Stream0 { send, recv, answer: session::Answer::Read },
                role,
                rep,
                stats,
            )?;
            Ok(Ended::Transfer(end))
        }
        Plan::List(entries) => {
            let mut frames = Vec::new();
            let n = entries.len() as u64;
            for c in entries.chunks(ENTRIES_PER_FRAME) {
                frames.push(Response::Entries(c.to_vec()));
            }
            frames.push(Response::End { count: n });
            finish_with(rt, conn, &mut send, &frames);
            Ok(Ended::Listed)
        }
        Plan::Offer => {
            let Served::Offer { specs, entries } = served else {
                return Err(anyhow::anyhow!("offer without files (internal error)"));
            };
            let mut buf = Vec::new();
            for c in entries.chunks(ENTRIES_PER_FRAME) {
                buf.extend_from_slice(&Response::Entries(c.to_vec()).encode());
            }
            buf.extend_from_slice(&Response::End { count: entries.len() as u64 }.encode());
            rt.block_on(session::write_frame(&mut send, &buf))?;
            // The receiver may take its time to decide (a person reads the list).
            let answer = rt
                .block_on(async { tokio::time::timeout(CONFIRM_TIMEOUT, session::read_frame(&mut recv)).await })
                .map_err(|_| tagged(Kind::Timeout, "the receiver did not answer the offer within 10 minutes"))??;
            match Response::decode(&answer)? {
                Response::Confirm { accept: true } => {}
                Response::Confirm { accept: false } => {
                    conn.close(quinn::VarInt::from_u32(super::handshake::close::DONE), b"declined");
                    return Ok(Ended::Declined);
                }
                _ => return Err(crate::proto::Error::Malformed("expected the receiver's confirmation").into()),
            }
            let cfg = SourceConfig {
                manifest: None,
                specs: specs.clone(),
                scan: ScanOptions { recursive: true, links: true },
                filter: crate::filter::Filter::none(),
                params: ChunkParams::DEFAULT,
                compress: true,
                flags: Flags(Flags::PERMS | Flags::TIMES | Flags::LINKS | Flags::SAFE_LINKS),
                max_delete: 0,
                bwlimit: None,
            };
            let end = session::run_role(
                rt,
                conn,
                session::Stream0 { send, recv, answer: session::Answer::Read },
                RoleConfig::Source(Box::new(cfg)),
                rep,
                stats,
            )?;
            Ok(Ended::Transfer(end))
        }
    }
}

/// Send `frames`, finish the stream and wait (bounded) for the dialer to close.
fn finish_with(rt: &Handle, conn: &Connection, send: &mut quinn::SendStream, frames: &[Response]) {
    let mut buf = Vec::new();
    for f in frames {
        buf.extend_from_slice(&f.encode());
    }
    let _ = rt.block_on(session::write_frame(send, &buf));
    let _ = send.finish();
    let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), conn.closed()).await });
}

fn plan(served: &Served, req: Request) -> Result<Plan, Response> {
    let (dir, root_dir, read_only) = match served {
        Served::Dir { dir, root, read_only } => (dir, root, *read_only),
        Served::Offer { .. } => {
            return match req {
                Request::Offer => Ok(Plan::Offer),
                _ => Err(refusal(Kind::Usage, "this peer runs `pcp send`; use `pcp receive` to get its files")),
            }
        }
    };
    match req {
        Request::Offer => {
            Err(refusal(Kind::Usage, "this peer runs `pcp serve`; use pcp sync, cp or ls with PEER:PATH"))
        }
        Request::List { path } => {
            let (rel, _) = parse_peer_path(&path)?;
            list(dir, &rel).map(Plan::List)
        }
        Request::Push { path, flags, max_delete, single_file, dir_as_new: _, rules, gitignore } => {
            if read_only {
                return Err(refusal(
                    Kind::Usage,
                    "this peer serves its directory read-only (--read-only); pull from it instead",
                ));
            }
            let (rel, slash) = parse_peer_path(&path)?;
            let found = lookup(dir, &rel)?;
            if found == Found::Link {
                return Err(refusal(Kind::Select, format!("destination {rel} is a symlink; refused")));
            }
            let is_dir = found == Found::Dir;
            let rename = single_file && !is_dir && !slash && !rel.is_root();
            let root_rel =
                if rename { rel.split_last().map(|(p, _)| p).unwrap_or_else(SafeRelPath::root) } else { rel.clone() };
            if !rename && found == Found::Other {
                return Err(refusal(Kind::Select, format!("destination {rel} is not a directory")));
            }
            let (root, root_fd) = if flags & Flags::DRY_RUN != 0 {
                // -n changes nothing, not even missing directories (lookup checked the path).
                (root_rel.under(dir), None)
            } else {
                let root = make_dirs(dir, &root_rel)?;
                // Hold the root, opened beneath the served directory with no symlink followed:
                // the destination role writes there, not wherever the path leads by then.
                let fd = root_dir
                    .open_dir(Path::new(root_rel.as_str()))
                    .and_then(|d| d.dup_fd())
                    .map_err(|e| refusal(Kind::Select, format!("{root_rel}: {e}")))?;
                (root, Some(Arc::new(fd)))
            };
            let mut flags = flags & PEER_FLAGS;
            if root_rel.is_root() {
                // T16: never change the served directory itself from peer data.
                flags &= !Flags::ROOT_MODE;
            }
            let cfg = DestConfig {
                manifest: Some(crate::config::manifest_for(&root)),
                root,
                flags: Flags(flags),
                max_delete,
                filter: filter_from(rules, gitignore)?,
                fsync: true,
                umask: crate::config::umask(),
                bwlimit: None,
                offer: None,
                root_fd,
            };
            Ok(Plan::Role(RoleConfig::Destination(Box::new(cfg)), Response::Ok { is_dir }))
        }
        Request::Pull { path, flags, scan, rename_if_file, contents_if_dir, rules, gitignore } => {
            let (rel, slash) = parse_peer_path(&path)?;
            let found = lookup(dir, &rel)?;
            if found == Found::Missing {
                return Err(refusal(Kind::Select, format!("{rel}: no such file or directory on the peer")));
            }
            let is_dir = found == Found::Dir;
            let rename = match rename_if_file {
                Some(n) if !is_dir => {
                    let r = SafeRelPath::new(&n).map_err(|e| refusal(Kind::Select, e.to_string()))?;
                    if r.components().count() != 1 {
                        return Err(refusal(Kind::Select, "a file name for the copy must be one path component"));
                    }
                    Some(n)
                }
                _ => None,
            };
            let local = rel.under(dir);
            let spec = SourceSpec {
                path: PathBuf::from(rel.as_str()),
                contents: is_dir && (slash || rel.is_root() || contents_if_dir),
                rename,
                within: Some(root_dir.clone()),
            };
            let flags = flags & PEER_FLAGS;
            let cfg = SourceConfig {
                manifest: Some(crate::config::manifest_for(&local)),
                specs: vec![spec],
                scan: ScanOptions {
                    recursive: scan & session::SCAN_RECURSIVE != 0,
                    links: scan & session::SCAN_LINKS != 0,
                },
                filter: filter_from(rules, gitignore)?,
                params: ChunkParams::DEFAULT,
                compress: flags & Flags::COMPRESS != 0,
                flags: Flags(flags),
                max_delete: 0,
                bwlimit: None,
            };
            Ok(Plan::Role(RoleConfig::Source(Box::new(cfg)), Response::Ok { is_dir }))
        }
    }
}

fn entry_of(name: String, md: &std::fs::Metadata, path: &Path) -> ListEntry {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let ft = md.file_type();
    let (kind, target) = if ft.is_file() {
        (0, Vec::new())
    } else if ft.is_dir() {
        (1, Vec::new())
    } else if ft.is_symlink() {
        (2, std::fs::read_link(path).map(|t| t.as_os_str().as_bytes().to_vec()).unwrap_or_default())
    } else {
        (3, Vec::new())
    };
    let mut target = target;
    target.truncate(crate::proto::message::MAX_TARGET);
    ListEntry { name, kind, size: md.len(), mode: md.mode() & 0o7777, mtime: md.mtime(), target }
}

/// `pcp ls`: the entries of a directory (not recursive), or the one entry `rel` names.
fn list(dir: &Path, rel: &SafeRelPath) -> Result<Vec<ListEntry>, Response> {
    let found = lookup(dir, rel)?;
    let p = rel.under(dir);
    let io = |e: std::io::Error| refusal(Kind::FileIo, format!("{rel}: {e}"));
    match found {
        Found::Missing => Err(refusal(Kind::Select, format!("{rel}: no such file or directory on the peer"))),
        Found::Dir => {
            let md = std::fs::symlink_metadata(&p).map_err(io)?;
            let mut out = vec![entry_of(".".into(), &md, &p)];
            let mut names = Vec::new();
            for e in std::fs::read_dir(&p).map_err(io)? {
                let e = e.map_err(io)?;
                names.push(e.file_name());
                if names.len() as u64 >= session::MAX_LIST_ENTRIES {
                    break;
                }
            }
            names.sort();
            for n in names {
                let cp = p.join(&n);
                if let Ok(md) = std::fs::symlink_metadata(&cp) {
                    out.push(entry_of(n.to_string_lossy().into_owned(), &md, &cp));
                }
            }
            Ok(out)
        }
        _ => {
            let md = std::fs::symlink_metadata(&p).map_err(io)?;
            let name = rel.split_last().map(|(_, n)| n.to_owned()).unwrap_or_default();
            Ok(vec![entry_of(name, &md, &p)])
        }
    }
}
