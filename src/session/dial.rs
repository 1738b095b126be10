//! The dialer's side of a session: reach the peer, authenticate, send the one request and run
//! the role it implies — push (DEST on the peer), pull (SRC on the peer), list, or receive an
//! offer — reconnecting with the session's resume ticket when the connection drops.
//!
//! rsync's naming rule ([`crate::location::naming`]) is split between the two sides: whoever
//! can see a path decides about it, and the listener's answer (`is_dir`) lets both apply the
//! same rule.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;

use super::driver::{run_role, RoleConfig, TransferEnd};
use crate::auth::Code;
use crate::config::Options;
use crate::error::{tagged, Kind};
use crate::location::{naming, DestShape, SrcShape};
use crate::net::client::{DialOptions, Dialer, FirstAuth};
use crate::net::conn::{Answer, Close};
use crate::net::endpoint::Bulk;
use crate::plan::Offer;
use crate::proto::session::{FileName, ListEntry, PeerPath, Request, Response, Scan};
use crate::proto::Flags;
use crate::report::{Reporter, Stats};
use crate::scan::SourceSpec;

/// How to authenticate to `peer`: a code when one is given (`PCP_CODE`, `--code-file`: a
/// first contact, or pairing again), else the pairing if `peer` is a paired peer's name, else
/// a code typed at the terminal. With no terminal, an unpaired peer is an authentication error
/// (exit 40) saying how to pair.
pub fn auth_for(peer: &str, code_file: Option<&Path>) -> Result<FirstAuth> {
    let code_given = std::env::var("PCP_CODE").is_ok_and(|s| !s.trim().is_empty()) || code_file.is_some();
    if !code_given {
        let peers = crate::fsio::keyfile::load_peers(&crate::config::config_dir())?;
        if let Some(r) = peers.by_name(peer) {
            return Ok(FirstAuth::Paired(r.clone()));
        }
        if !crate::tty::interactive() {
            return Err(tagged(
                Kind::Auth,
                format!(
                    "peer {peer:?} is not paired with this machine and no code was given: run once with the code its `pcp serve` prints (PCP_CODE=WORDS or --code-file FILE), which pairs the two; `pcp peers list` shows the paired ones"
                ),
            ));
        }
    }
    Ok(FirstAuth::Code(crate::tty::read_code(code_file)?))
}

/// What every dialing session needs besides its request.
pub struct Ctx<'a> {
    /// Output.
    pub rep: &'a Reporter,
    /// The interrupt signal.
    pub stop: &'static AtomicBool,
    /// Asks whether the verifier words match (`--verify`).
    pub verify: &'a dyn Fn(&str) -> Result<bool>,
}

fn is_real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}

fn unexpected() -> anyhow::Error {
    crate::proto::Error::Malformed("unexpected answer to the request").into()
}

/// A peer path typed by the user (`nas:photos/`), parsed before the code is spent.
fn peer_path(p: &str) -> Result<PeerPath> {
    PeerPath::parse(p).map_err(|e| tagged(Kind::Select, format!("{p}: refused before connecting: {e}")))
}

/// Push SRC... (local) into `rpath` on `peer`.
pub fn push(
    o: &Options,
    auth: FirstAuth,
    srcs: &[String],
    peer: &str,
    rpath: &str,
    cx: &Ctx<'_>,
    stats: &Arc<Stats>,
) -> Result<TransferEnd> {
    let specs = SourceSpec::from_args(srcs)?;
    if o.cp && !o.scan.recursive {
        if let Some(d) = specs.iter().find(|s| is_real_dir(&s.path)) {
            let shown = d.path.display();
            return Err(tagged(Kind::Select, format!("{shown} is a directory; use -r to copy directories")));
        }
    }
    let path = peer_path(rpath)?;
    let single = specs.len() == 1;
    let src_is_dir = single && is_real_dir(&specs[0].path);
    // -v, -i or --json on a push: the destination sends back what it itemizes.
    let v = o.verbosity;
    let echo = if !v.quiet && (v.verbose > 0 || v.itemize || v.json) { Flags::ECHO_CHANGES } else { 0 };
    let req = Request::Push {
        path: path.clone(),
        flags: Flags(o.flags.0 | echo),
        max_delete: o.max_delete,
        single_file: single && !src_is_dir,
        dir_as_new: o.cp && src_is_dir,
        rules: o.filter.rules.clone(),
        gitignore: o.filter.gitignore,
        tuning: o.tuning.clone(),
    };
    // Only a single file, or `cp -r DIR NEW`, is named by the answer (is the destination a
    // directory?). Any other push starts at once and checks the answer on the way: one round
    // trip less before the first byte (docs/protocol.md "Round trips").
    let named_by_answer = (single && !src_is_dir) || (o.cp && src_is_dir);
    let mut d = Dialer::new(peer, &o.dial, auth, Bulk::Send)?;
    d.with_retries(cx.rep, cx.stop, |d, _| {
        let mut conn = d.connect(cx.rep, cx.verify)?;
        conn.send_frame(&req.encode())?;
        let mut specs = specs.clone();
        let answer = if named_by_answer {
            let Response::Ok { is_dir } = conn.read_response()? else { return Err(unexpected()) };
            let last = path.rel().split_last().map(|(_, n)| n.to_owned());
            let n = naming(
                SrcShape { single, is_dir: src_is_dir, contents: specs[0].contents },
                DestShape { is_dir, slash: path.slash(), name: last.as_deref() },
                o.cp,
            );
            specs[0].rename = n.rename;
            specs[0].contents = n.contents;
            Answer::Read
        } else {
            Answer::Pending
        };
        let cfg = o.source(specs);
        run_role(&mut conn, answer, RoleConfig::Source(Box::new(cfg)), cx.rep, stats, cx.stop)
    })
}

/// Pull `rpath` from `peer` into DEST (local).
pub fn pull(
    o: &Options,
    auth: FirstAuth,
    peer: &str,
    rpath: &str,
    dest: &str,
    cx: &Ctx<'_>,
    stats: &Arc<Stats>,
) -> Result<TransferEnd> {
    let path = peer_path(rpath)?;
    let dest_path = PathBuf::from(dest);
    let dest_is_dir = std::fs::metadata(&dest_path).map(|m| m.is_dir()).unwrap_or(false);
    let name = dest_path.file_name().map(|n| n.to_string_lossy().into_owned());
    let shape = DestShape { is_dir: dest_is_dir, slash: dest.ends_with('/'), name: name.as_deref() };
    // The listener holds SRC: tell it how DEST would name a single file, and whether a
    // directory's contents go into DEST (`cp -r DIR NEW`).
    let as_file = naming(SrcShape { single: true, is_dir: false, contents: false }, shape, o.cp);
    let as_dir = naming(SrcShape { single: true, is_dir: true, contents: false }, shape, o.cp);
    let rename_if_file = match &as_file.rename {
        Some(n) => Some(FileName::parse(n).map_err(|e| tagged(Kind::Usage, format!("{dest}: {e}")))?),
        None => None,
    };
    // Before the code is spent: DEST, or its parent when a file may land under DEST's name,
    // reached through no symlink someone else planted (the root is checked again below).
    let parent = dest_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    crate::fsio::trust::check(if rename_if_file.is_some() { parent } else { &dest_path })?;
    let req = Request::Pull {
        path,
        flags: o.flags,
        scan: Scan {
            recursive: o.scan.recursive,
            links: o.scan.links,
            one_file_system: o.scan.one_file_system,
            prune_empty_dirs: o.scan.prune_empty_dirs,
        },
        rename_if_file: rename_if_file.clone(),
        contents_if_dir: as_dir.contents,
        rules: o.filter.rules.clone(),
        gitignore: o.filter.gitignore,
    };
    let mut d = Dialer::new(peer, &o.dial, auth, Bulk::Receive)?;
    d.with_retries(cx.rep, cx.stop, |d, _| {
        let mut conn = d.connect(cx.rep, cx.verify)?;
        conn.send_frame(&req.encode())?;
        let Response::Ok { is_dir } = conn.read_response()? else { return Err(unexpected()) };
        let root = if !is_dir && rename_if_file.is_some() { parent.to_path_buf() } else { dest_path.clone() };
        crate::fsio::trust::check(&root)?;
        crate::config::check_parent(&root, o.mkpath, o.flags.has(Flags::DRY_RUN))?;
        if !o.flags.has(Flags::DRY_RUN) {
            // Before naming the manifest: it is keyed by the canonical root, so a rerun finds it.
            std::fs::create_dir_all(&root)
                .map_err(|e| tagged(Kind::FileIo, format!("creating {}: {e}", root.display())))?;
        }
        let cfg = crate::engine::destination::DestConfig { count_list: true, ..o.dest(root) };
        run_role(&mut conn, Answer::Read, RoleConfig::Destination(Box::new(cfg)), cx.rep, stats, cx.stop)
    })
}

/// `pcp ls PEER:PATH`.
pub fn list(dial: &DialOptions, auth: FirstAuth, peer: &str, rpath: &str, cx: &Ctx<'_>) -> Result<Vec<ListEntry>> {
    let req = Request::List { path: peer_path(rpath)? };
    let mut d = Dialer::new(peer, dial, auth, Bulk::Receive)?;
    d.with_retries(cx.rep, cx.stop, |d, _| {
        let mut conn = d.connect(cx.rep, cx.verify)?;
        conn.send_frame(&req.encode())?;
        let all = conn.read_entries()?;
        conn.close(Close::Done, b"done");
        Ok(all)
    })
}

/// What `pcp receive` decides about an offer.
pub enum Decision {
    /// Receive into this destination (the destination role accepts only what was offered).
    Accept(Box<crate::engine::destination::DestConfig>),
    /// Decline; nothing is received.
    Decline,
}

/// `pcp receive`: read the offer, let `decide` look at it (once: a reconnect delivers only
/// what was accepted the first time), then receive. `preaccepted` (`--yes`): the acceptance
/// goes out with the request, in one flight, saving a round trip (`decide` still sees the
/// offer and builds the destination from it).
pub fn receive(
    dial: &DialOptions,
    code: Code,
    cx: &Ctx<'_>,
    stats: &Arc<Stats>,
    preaccepted: bool,
    mut decide: impl FnMut(&[ListEntry]) -> Result<Decision>,
) -> Result<Option<TransferEnd>> {
    // A one-shot receive pairs with nobody.
    let mut once = dial.clone();
    once.remember.enabled = false;
    let mut d = Dialer::new("sender", &once, FirstAuth::Code(code), Bulk::Receive)?;
    let mut accepted: Option<crate::engine::destination::DestConfig> = None;
    d.with_retries(cx.rep, cx.stop, |d, _| {
        let mut conn = d.connect(cx.rep, cx.verify)?;
        conn.send_frame(&Request::Offer.encode())?;
        let early = preaccepted || accepted.is_some();
        if early {
            conn.send_frame(&Response::Confirm { accept: true }.encode())?;
        }
        let entries = conn.read_entries()?;
        if accepted.is_none() {
            match decide(&entries)? {
                Decision::Decline => {
                    conn.finish_with(&Response::Confirm { accept: false }.encode(), std::time::Duration::from_secs(5));
                    conn.close(Close::Done, b"declined");
                    return Ok(None);
                }
                Decision::Accept(mut cfg) => {
                    cfg.offer = Some(Arc::new(offer_of(&entries)));
                    accepted = Some(*cfg);
                }
            }
        }
        let Some(cfg) = accepted.clone() else {
            return Err(crate::net::error::Error::Internal("offer not accepted").into());
        };
        if !early {
            conn.send_frame(&Response::Confirm { accept: true }.encode())?;
        }
        std::fs::create_dir_all(&cfg.root)
            .map_err(|e| tagged(Kind::FileIo, format!("creating {}: {e}", cfg.root.display())))?;
        run_role(&mut conn, Answer::Read, RoleConfig::Destination(Box::new(cfg)), cx.rep, stats, cx.stop).map(Some)
    })
}

/// The accepted offer, as the destination role enforces it.
fn offer_of(entries: &[ListEntry]) -> Offer {
    use crate::plan::Offered;
    use crate::proto::session::ListKind;
    let mut o = Offer::default();
    for e in entries {
        let what = match e.kind {
            ListKind::File => Offered::File { size: e.size },
            ListKind::Dir => Offered::Dir,
            ListKind::Symlink => Offered::Symlink { target: e.target.clone() },
            ListKind::Other => continue,
        };
        o.insert(e.name.clone(), what);
    }
    o
}

/// `pcp pair NAME --addr ...`: a code handshake that pairs (the listener keeps this side, this
/// side keeps it as `peer`), then the Pair request, answered once the listener stored it.
pub fn pair(dial: &DialOptions, code: Code, peer: &str, cx: &Ctx<'_>) -> Result<()> {
    let mut d = Dialer::new(peer, dial, FirstAuth::Code(code), Bulk::Receive)?;
    d.with_retries(cx.rep, cx.stop, |d, _| {
        let mut conn = d.connect(cx.rep, cx.verify)?;
        conn.send_frame(&Request::Pair.encode())?;
        let Response::Ok { .. } = conn.read_response()? else { return Err(unexpected()) };
        conn.close(Close::Done, b"paired");
        Ok(())
    })
}
