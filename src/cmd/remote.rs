//! `pcp sync` / `pcp cp` with a `PEER:PATH`: push (DEST on the peer) or pull (SRC on the peer).
//! The local side dials, authenticates, sends one request and runs the role it implies; the
//! peer (`pcp serve`) confines the path to its directory. rsync's naming rules are split
//! between the two sides: whoever can see a path decides about it, and the peer's answer
//! (`is_dir`) lets both apply the same rule.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::Outcome;
use crate::chunk::ChunkParams;
use crate::cli::{ConnectArgs, CpArgs, SyncArgs};
use crate::engine::destination::DestConfig;
use crate::engine::source::SourceConfig;
use crate::error::{tagged, Kind};
use crate::filter::Filter;
use crate::location::Location;
use crate::net::client::{read_code, Dialer};
use crate::net::endpoint::Bulk;
use crate::net::session::{self, read_response, write_frame, Request, Response, RoleConfig, TransferEnd};
use crate::proto::Flags;
use crate::report::{Reporter, Stats};
use crate::scan::{ScanOptions, SourceSpec};

/// A network transfer, resolved from sync or cp arguments.
struct Xfer<'a> {
    paths: &'a [String],
    flags: Flags,
    max_delete: u64,
    filter: Filter,
    scan: ScanOptions,
    compress: bool,
    cp: bool,
    manifest: Option<PathBuf>,
    fsync: bool,
    conn: &'a ConnectArgs,
    show_stats: bool,
    bwlimit: Option<u64>,
}

/// `pcp sync` with a peer.
pub fn sync(a: &SyncArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, a.itemize, a.partial_progress));
    let mut flags = super::sync::flags_of(a);
    let compress = !a.no_compress;
    if compress {
        flags = Flags(flags.0 | Flags::COMPRESS);
    }
    let x = Xfer {
        paths: &a.paths,
        flags,
        max_delete: a.max_delete.unwrap_or(0),
        filter: super::sync::filter_of(a)?,
        scan: ScanOptions { recursive: a.archive || a.recursive, links: a.archive || a.links },
        compress,
        cp: false,
        manifest: a.manifest.clone(),
        fsync: !a.no_fsync,
        conn: &a.conn,
        show_stats: a.out.stats,
        bwlimit: a.bwlimit,
    };
    reported(&rep, run(&x, &rep))
}

/// `pcp cp` with a peer.
pub fn cp(a: &CpArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    let mut flags = Flags::PERMS | Flags::LINKS | Flags::CHECKSUM | Flags::ROOT_MODE | Flags::COMPRESS;
    if a.preserve {
        flags |= Flags::TIMES;
    }
    let x = Xfer {
        paths: &a.paths,
        flags: Flags(flags),
        max_delete: 0,
        filter: Filter::none(),
        scan: ScanOptions { recursive: a.recursive, links: true },
        compress: true,
        cp: true,
        manifest: None,
        fsync: !a.no_fsync,
        conn: &a.conn,
        show_stats: a.out.stats,
        bwlimit: a.bwlimit,
    };
    reported(&rep, run(&x, &rep))
}

/// Emit the `--json` error event of a failed command.
pub fn reported(rep: &Reporter, r: Result<Outcome>) -> Result<Outcome> {
    if let Err(e) = &r {
        rep.error_event(e);
    }
    r
}

fn is_real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}

fn run(x: &Xfer<'_>, rep: &Reporter) -> Result<Outcome> {
    let (srcs, dest) = x.paths.split_at(x.paths.len() - 1);
    let dest = &dest[0];
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let end = match Location::parse(dest) {
        Location::Peer { name, path } => push(x, srcs, &name, &path, rep, &stats),
        Location::Local { .. } => {
            let [src] = srcs else {
                return Err(tagged(
                    Kind::Usage,
                    "pulling from a peer takes exactly one PEER:PATH source; run pcp once per source",
                ));
            };
            let Location::Peer { name, path } = Location::parse(src) else {
                return Err(tagged(
                    Kind::Usage,
                    format!("{src}: mix of local and peer sources; give one PEER:PATH source"),
                ));
            };
            pull(x, &name, &path, dest, rep, &stats)
        }
    };
    let end = end?;
    rep.stats(&stats, start.elapsed(), x.show_stats);
    Ok(if end.skipped > 0 || end.errors > 0 { Outcome::Partial } else { Outcome::Ok })
}

fn push(
    x: &Xfer<'_>,
    srcs: &[String],
    peer: &str,
    rpath: &str,
    rep: &Reporter,
    stats: &Arc<Stats>,
) -> Result<TransferEnd> {
    let mut specs = Vec::new();
    for s in srcs {
        match Location::parse(s) {
            Location::Local { path, contents } => {
                if std::fs::symlink_metadata(&path).is_err() {
                    return Err(tagged(Kind::Select, format!("source {s} does not exist; check the path")));
                }
                if x.cp && !x.scan.recursive && is_real_dir(&path) {
                    return Err(tagged(Kind::Select, format!("{s} is a directory; use -r to copy directories")));
                }
                specs.push(SourceSpec::local(path, contents));
            }
            Location::Peer { .. } => {
                return Err(tagged(
                    Kind::Usage,
                    format!("{s}: SRC and DEST cannot both be on peers; one side must be local"),
                ))
            }
        }
    }
    let single = specs.len() == 1;
    let src_is_dir = single && is_real_dir(&specs[0].path);
    let code = read_code(x.conn.code_file.as_deref())?;
    let mut d = Dialer::new(peer, x.conn, code, Bulk::Send)?;
    let rt = d.handle();
    d.with_retries(x.conn.retries, rep, |d, _| {
        let (conn, mut auth) = d.connect(rep)?;
        let req = Request::Push {
            path: rpath.to_owned(),
            flags: x.flags.0,
            max_delete: x.max_delete,
            single_file: single && !src_is_dir,
            dir_as_new: x.cp && src_is_dir,
            rules: x.filter.rules.clone(),
            gitignore: x.filter.gitignore,
        };
        rt.block_on(write_frame(&mut auth.send, &req.encode()))?;
        let mut specs = specs.clone();
        // Only a single file, or `cp -r DIR NEW`, is named by the answer (is the destination
        // a directory?). Any other push starts at once and checks the answer on the way: one
        // round trip less before the first byte (docs/protocol.md "Round trips").
        let named_by_answer = (single && !src_is_dir) || (x.cp && src_is_dir);
        let answer = if named_by_answer {
            let Response::Ok { is_dir } = rt.block_on(read_response(&mut auth.recv))? else {
                return Err(crate::proto::Error::Malformed("unexpected answer to the request").into());
            };
            let trimmed = rpath.trim_end_matches('/');
            if single && !src_is_dir && !is_dir && !rpath.ends_with('/') && !trimmed.is_empty() {
                specs[0].rename = trimmed.rsplit('/').next().map(str::to_owned);
            }
            if x.cp && src_is_dir && !is_dir {
                specs[0].contents = true;
            }
            session::Answer::Read
        } else {
            session::Answer::Pending
        };
        let cfg = SourceConfig {
            manifest: specs.first().map(|s| crate::config::manifest_for(&s.path)),
            specs,
            scan: x.scan,
            filter: x.filter.clone(),
            params: ChunkParams::DEFAULT,
            compress: x.compress,
            flags: x.flags,
            max_delete: x.max_delete,
            bwlimit: x.bwlimit,
        };
        session::run_role(
            &rt,
            &conn,
            session::Stream0 { send: auth.send, recv: auth.recv, answer },
            RoleConfig::Source(Box::new(cfg)),
            rep,
            stats,
        )
    })
}

fn pull(x: &Xfer<'_>, peer: &str, rpath: &str, dest: &str, rep: &Reporter, stats: &Arc<Stats>) -> Result<TransferEnd> {
    let dest_path = PathBuf::from(dest);
    let dest_is_dir = std::fs::metadata(&dest_path).map(|m| m.is_dir()).unwrap_or(false);
    let dest_slash = dest.ends_with('/');
    let rename_if_file = if !dest_is_dir && !dest_slash {
        dest_path.file_name().map(|n| n.to_string_lossy().into_owned())
    } else {
        None
    };
    // Before the code is spent: DEST, or its parent when a file may land under DEST's name,
    // reached through no symlink someone else planted (the root is checked again below).
    let parent = dest_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    crate::fsio::trust::check(if rename_if_file.is_some() { parent } else { &dest_path })?;
    let code = read_code(x.conn.code_file.as_deref())?;
    let mut d = Dialer::new(peer, x.conn, code, Bulk::Receive)?;
    let rt = d.handle();
    let mut scan = 0u8;
    if x.scan.recursive {
        scan |= session::SCAN_RECURSIVE;
    }
    if x.scan.links {
        scan |= session::SCAN_LINKS;
    }
    d.with_retries(x.conn.retries, rep, |d, _| {
        let (conn, mut auth) = d.connect(rep)?;
        let req = Request::Pull {
            path: rpath.to_owned(),
            flags: x.flags.0,
            scan,
            rename_if_file: rename_if_file.clone(),
            contents_if_dir: x.cp && !dest_is_dir,
            rules: x.filter.rules.clone(),
            gitignore: x.filter.gitignore,
        };
        rt.block_on(write_frame(&mut auth.send, &req.encode()))?;
        let Response::Ok { is_dir } = rt.block_on(read_response(&mut auth.recv))? else {
            return Err(crate::proto::Error::Malformed("unexpected answer to the request").into());
        };
        let root = if !is_dir && rename_if_file.is_some() {
            dest_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| ".".into())
        } else {
            dest_path.clone()
        };
        crate::fsio::trust::check(&root)?;
        if !x.flags.has(Flags::DRY_RUN) {
            // Before naming the manifest: it is keyed by the canonical root, so a rerun finds it.
            std::fs::create_dir_all(&root)
                .map_err(|e| tagged(Kind::FileIo, format!("creating {}: {e}", root.display())))?;
        }
        let cfg = DestConfig {
            manifest: Some(x.manifest.clone().unwrap_or_else(|| crate::config::manifest_for(&root))),
            root,
            flags: x.flags,
            max_delete: x.max_delete,
            filter: x.filter.clone(),
            fsync: x.fsync,
            umask: crate::config::umask(),
            bwlimit: x.bwlimit,
            offer: None,
            root_fd: None,
        };
        session::run_role(
            &rt,
            &conn,
            session::Stream0 { send: auth.send, recv: auth.recv, answer: session::Answer::Read },
            RoleConfig::Destination(Box::new(cfg)),
            rep,
            stats,
        )
    })
}
