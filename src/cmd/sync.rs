//! `pcp sync`: rsync-like sync. Local-to-local runs the source and destination roles on two
//! threads joined by an in-memory link (the same roles the network carries over QUIC); with a
//! `PEER:PATH` the dialing session does (session::dial).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use super::Outcome;
use crate::cli::SyncArgs;
use crate::config::{Options, Reach};
use crate::engine::destination::{self, DestConfig};
use crate::engine::source::{self, SourceConfig};
use crate::error::{tagged, Kind};
use crate::fsio::trust;
use crate::location::{naming, DestShape, Location, SrcShape};
use crate::report::{Reporter, Stats};
use crate::scan::SourceSpec;

/// A fully resolved local transfer.
#[derive(Debug, Clone)]
pub struct LocalPlan {
    /// Source side.
    pub source: SourceConfig,
    /// Destination side.
    pub dest: DestConfig,
}

fn is_real_dir(p: &Path) -> bool {
    std::fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false)
        && !std::fs::symlink_metadata(p).map(|m| m.file_type().is_symlink()).unwrap_or(false)
}

/// Turn local SRC... DEST into source specs and the destination root ([`naming`]). A
/// destination root reached through a symlink owned by neither root nor the user is refused
/// ([`trust::check`]).
pub fn resolve_paths(srcs: &[String], dest: &str, cp: bool) -> Result<(Vec<SourceSpec>, PathBuf)> {
    let mut specs = SourceSpec::from_args(srcs)?;
    if Location::parse(dest).is_peer() {
        return Err(tagged(
            Kind::Usage,
            format!("{dest}: names a peer, but this is a local sync; write ./{dest} for a local name containing ':'"),
        ));
    }
    let dest_path = PathBuf::from(dest);
    let dest_is_dir = std::fs::metadata(&dest_path).map(|m| m.is_dir()).unwrap_or(false);
    if specs.len() > 1 && !dest_is_dir && dest_path.exists() {
        return Err(tagged(
            Kind::Select,
            format!("destination {dest} is not a directory; with several sources DEST must be a directory"),
        ));
    }
    let name = dest_path.file_name().map(|n| n.to_string_lossy().into_owned());
    let shape = DestShape { is_dir: dest_is_dir, slash: dest.ends_with('/'), name: name.as_deref() };
    if let [spec] = specs.as_mut_slice() {
        let src = SrcShape { single: true, is_dir: is_real_dir(&spec.path), contents: spec.contents };
        let n = naming(src, shape, cp);
        spec.contents = n.contents;
        if let Some(name) = n.rename {
            // A single file onto a file name: DEST names the file.
            let parent = dest_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            spec.rename = Some(name);
            trust::check(&parent)?;
            return Ok((specs, parent));
        }
    }
    trust::check(&dest_path)?;
    Ok((specs, dest_path))
}

/// Build the local plan of SRC... DEST.
pub fn plan(o: &Options, paths: &[String]) -> Result<LocalPlan> {
    let (srcs, dest) = paths.split_at(paths.len() - 1);
    let (specs, root) = resolve_paths(srcs, &dest[0], o.cp)?;
    crate::config::check_parent(&root, o.mkpath, o.flags.has(crate::proto::Flags::DRY_RUN))?;
    Ok(LocalPlan { source: o.source(specs), dest: o.dest(root) })
}

/// Run a local plan: both roles, in-memory link.
pub fn run_local(p: LocalPlan, rep: &Reporter, show_stats: bool) -> Result<Outcome> {
    let stats = Stats::default();
    let start = Instant::now();
    rep.progress_start(0);
    let (s_link, d_link) = crate::engine::local_pair(64);
    let (src_res, dst_res) = std::thread::scope(|s| {
        let src = s.spawn(|| source::run(p.source.clone(), s_link, rep, &stats));
        let dst = destination::run(&p.dest, d_link, rep, &stats);
        let src = src.join().unwrap_or_else(|_| Err(anyhow::anyhow!("source thread panicked")));
        (src, dst)
    });
    rep.progress_done(stats.bytes_written.load(std::sync::atomic::Ordering::Relaxed), start, "received");
    let outcome = match (src_res, dst_res) {
        (_, Err(e)) if crate::error::kind_of(&e) == Kind::Interrupted => return Err(e),
        (_, Err(e)) => return Err(e).context("sync failed"),
        (Err(e), Ok(_)) => return Err(e).context("sync failed"),
        (Ok(skipped), Ok(o)) => {
            if skipped > 0 || o.errors > 0 || o.delete_limited {
                Outcome::Partial
            } else {
                Outcome::Ok
            }
        }
    };
    rep.stats(&stats, start.elapsed(), show_stats);
    Ok(outcome)
}

/// Run SRC... DEST with resolved options: locally, or as a dialing session when one side is
/// `PEER:PATH`.
pub fn transfer(o: &Options, paths: &[String]) -> Result<Outcome> {
    // The same source given twice is sent once (as rsync does), not a duplicate entry.
    let mut unique: Vec<String> = Vec::with_capacity(paths.len());
    if let Some((dest, srcs)) = paths.split_last() {
        for s in srcs {
            if !unique.contains(s) {
                unique.push(s.clone());
            }
        }
        unique.push(dest.clone());
    }
    let paths = &unique[..];
    let rep = Reporter::new(o.verbosity);
    if o.reach == Reach::Local {
        return run_local(plan(o, paths)?, &rep, o.show_stats);
    }
    super::reported(&rep, remote(o, paths, &rep))
}

fn remote(o: &Options, paths: &[String], rep: &Reporter) -> Result<Outcome> {
    let (srcs, dest) = paths.split_at(paths.len() - 1);
    let dest = &dest[0];
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let verify = super::verify_prompt;
    let cx = crate::session::dial::Ctx { rep, stop: &crate::INTERRUPTED, verify: &verify };
    let end = match Location::parse(dest) {
        Location::Peer { name, path } => {
            let auth = crate::session::dial::auth_for(&name, o.code_file.as_deref())?;
            crate::session::dial::push(o, auth, srcs, &name, &path, &cx, &stats)?
        }
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
            let auth = crate::session::dial::auth_for(&name, o.code_file.as_deref())?;
            crate::session::dial::pull(o, auth, &name, &path, dest, &cx, &stats)?
        }
    };
    rep.stats(&stats, start.elapsed(), o.show_stats);
    Ok(if end.partial() { Outcome::Partial } else { Outcome::Ok })
}

/// Where `paths` reach: the network when any is `PEER:PATH`.
pub fn reach_of(paths: &[String]) -> Reach {
    if paths.iter().any(|p| Location::parse(p).is_peer()) {
        Reach::Network
    } else {
        Reach::Local
    }
}

/// `pcp sync`.
pub fn run(a: &SyncArgs) -> Result<Outcome> {
    let o = Options::sync(a, reach_of(&a.paths))?;
    transfer(&o, &a.paths)
}
