//! `pcp sync`: rsync-like sync. Local-to-local runs the source and destination roles on two
//! threads joined by an in-memory link (the same roles the network carries over QUIC).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use super::Outcome;
use crate::chunk::ChunkParams;
use crate::cli::SyncArgs;
use crate::engine::destination::{self, DestConfig};
use crate::engine::source::{self, SourceConfig};
use crate::error::{tagged, Kind};
use crate::filter::{parse_filter_rule, read_exclude_file, Filter, Rule};
use crate::fsio::trust;
use crate::location::Location;
use crate::proto::Flags;
use crate::report::{Reporter, Stats};
use crate::scan::{ScanOptions, SourceSpec};

/// A fully resolved local transfer.
#[derive(Debug, Clone)]
pub struct LocalPlan {
    /// Source side.
    pub source: SourceConfig,
    /// Destination side.
    pub dest: DestConfig,
}

/// Compile the filter rules of `pcp sync`, in the order rsync applies them: --filter,
/// --include and --exclude as given (first match wins), then --exclude-from files.
pub fn filter_of(a: &SyncArgs) -> Result<Filter> {
    let mut rules = Vec::new();
    for f in &a.filter {
        rules.push(parse_filter_rule(f)?);
    }
    for i in &a.include {
        rules.push(Rule::Include(i.clone()));
    }
    for e in &a.exclude {
        rules.push(Rule::Exclude(e.clone()));
    }
    for f in &a.exclude_from {
        rules.extend(read_exclude_file(f)?);
    }
    Ok(Filter::new(rules, a.gitignore)?)
}

/// Turn SRC... DEST into source specs and the destination root (rsync's naming rules). A
/// destination root reached through a symlink owned by neither root nor the user is refused
/// ([`trust::check`]).
pub fn resolve_paths(srcs: &[String], dest: &str, dir_contents_if_new: bool) -> Result<(Vec<SourceSpec>, PathBuf)> {
    let mut specs = Vec::new();
    for s in srcs {
        match Location::parse(s) {
            Location::Local { path, contents } => {
                if std::fs::symlink_metadata(&path).is_err() {
                    return Err(tagged(Kind::Select, format!("source {s} does not exist; check the path")));
                }
                specs.push(SourceSpec::local(path, contents));
            }
            Location::Peer { name, .. } => {
                return Err(tagged(
                    Kind::Usage,
                    format!("{s}: syncing with peer {name:?} is not available in this build; use local paths (write ./{s} for a local name containing ':')"),
                ))
            }
        }
    }
    if Location::parse(dest).is_peer() {
        return Err(tagged(
            Kind::Usage,
            format!("{dest}: syncing with a peer is not available in this build; use a local path (write ./{dest} for a local name containing ':')"),
        ));
    }
    let dest_path = PathBuf::from(dest);
    let dest_is_dir = std::fs::metadata(&dest_path).map(|m| m.is_dir()).unwrap_or(false);
    let dest_slash = dest.ends_with('/');
    if specs.len() == 1 {
        let spec = &mut specs[0];
        let is_dir = std::fs::metadata(&spec.path).map(|m| m.is_dir()).unwrap_or(false)
            && !std::fs::symlink_metadata(&spec.path).map(|m| m.file_type().is_symlink()).unwrap_or(false);
        if !is_dir && !dest_is_dir && !dest_slash {
            // Single file onto a file name: DEST names the file.
            let name = dest_path.file_name().map(|n| n.to_string_lossy().into_owned());
            let parent = dest_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            spec.rename = name;
            trust::check(&parent)?;
            return Ok((specs, parent));
        }
        if is_dir && dir_contents_if_new && !dest_is_dir {
            // cp -r dir newname: newname becomes the copy.
            spec.contents = true;
        }
    } else if !dest_is_dir && dest_path.exists() {
        return Err(tagged(
            Kind::Select,
            format!("destination {dest} is not a directory; with several sources DEST must be a directory"),
        ));
    }
    trust::check(&dest_path)?;
    Ok((specs, dest_path))
}

/// The transfer flags of `pcp sync` arguments.
pub fn flags_of(a: &SyncArgs) -> Flags {
    let mut flags = 0;
    let set = |f: &mut u64, on: bool, bit: u64| {
        if on {
            *f |= bit;
        }
    };
    set(&mut flags, a.delete, Flags::DELETE);
    set(&mut flags, a.dry_run, Flags::DRY_RUN);
    set(&mut flags, a.checksum, Flags::CHECKSUM);
    set(&mut flags, a.archive || a.perms, Flags::PERMS);
    set(&mut flags, a.archive || a.times, Flags::TIMES);
    set(&mut flags, a.archive || a.links, Flags::LINKS);
    set(&mut flags, a.safe_links, Flags::SAFE_LINKS);
    set(&mut flags, a.compress, Flags::COMPRESS);
    flags |= Flags::ROOT_MODE;
    Flags(flags)
}

/// Build the local plan from `pcp sync` arguments.
pub fn plan(a: &SyncArgs) -> Result<LocalPlan> {
    let (srcs, dest) = a.paths.split_at(a.paths.len() - 1);
    let (specs, root) = resolve_paths(srcs, &dest[0], false)?;
    let filter = filter_of(a)?;
    let flags = flags_of(a);
    let params = ChunkParams::DEFAULT;
    let source = SourceConfig {
        manifest: specs.first().map(|s| crate::config::manifest_for(&s.path)),
        specs,
        scan: ScanOptions { recursive: a.archive || a.recursive, links: a.archive || a.links },
        filter: filter.clone(),
        params,
        compress: a.compress,
        flags,
        max_delete: a.max_delete.unwrap_or(0),
        bwlimit: a.bwlimit,
    };
    let dest = DestConfig {
        manifest: Some(a.manifest.clone().unwrap_or_else(|| crate::config::manifest_for(&root))),
        root,
        flags,
        max_delete: a.max_delete.unwrap_or(0),
        filter,
        fsync: !a.no_fsync,
        umask: crate::config::umask(),
        bwlimit: None,
        offer: None,
        root_fd: None,
    };
    Ok(LocalPlan { source, dest })
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

/// `pcp sync`.
pub fn run(a: &SyncArgs) -> Result<Outcome> {
    if a.paths.iter().any(|p| Location::parse(p).is_peer()) {
        return super::remote::sync(a);
    }
    let rep = Reporter::new(crate::config::verbosity(&a.out, a.itemize, a.partial_progress));
    let p = plan(a)?;
    run_local(p, &rep, a.out.stats)
}
