//! Walk a source tree (stat only, no reads) and produce file-list entries in sorted order,
//! applying the filter and `.pcpignore` files. rsync's trailing-slash rule decides the names.
//!
//! The tree's top directory is held open ([`SourceRoot`]); every entry is lstat'ed, and every
//! link read, beneath that fd with no symlink followed, and each file is later opened the same
//! way and checked to be the inode listed here. The walker only proposes names: a directory
//! swapped for a symlink during the walk yields errors, never entries from outside the tree.
//! (`.pcpignore` files are still read by the walker by path; a swap can change which rules
//! apply, never which bytes are sent.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::FileType;

use crate::filter::{Filter, IGNORE_FILE};
use crate::fsio::source::{DirCache, FileId, SourceRoot, SourceStat};
use crate::path::SafeRelPath;
use crate::proto::{Entry, Kind};

/// One source argument.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Path as given.
    pub path: PathBuf,
    /// Trailing slash: send the directory's contents, not the directory.
    pub contents: bool,
    /// Name to give a single file at the destination (when DEST names a file).
    pub rename: Option<String>,
    /// Resolve `path` (then relative) beneath this directory, following no symlink: a subtree
    /// a peer named inside a served directory.
    pub within: Option<Arc<SourceRoot>>,
}

impl SourceSpec {
    /// A source argument the user typed.
    pub fn local(path: PathBuf, contents: bool) -> Self {
        Self { path, contents, rename: None, within: None }
    }

    /// The local SRC arguments of a transfer, each checked to exist (exit 3 otherwise); a
    /// `PEER:PATH` among them is refused (one side of a transfer is local).
    pub fn from_args(srcs: &[String]) -> anyhow::Result<Vec<Self>> {
        Self::from_local_args(srcs, |s| {
            format!("{s}: SRC and DEST cannot both be on peers; one side must be local (write ./{s} for a local name containing ':')")
        })
    }

    /// Like [`SourceSpec::from_args`], with `on_peer` saying why a `PEER:PATH` is refused.
    pub fn from_local_args(srcs: &[String], on_peer: impl Fn(&str) -> String) -> anyhow::Result<Vec<Self>> {
        use crate::error::{tagged, Kind};
        use crate::location::Location;
        let mut specs = Vec::with_capacity(srcs.len());
        for s in srcs {
            let Location::Local { path, contents } = Location::parse(s) else {
                return Err(tagged(Kind::Usage, on_peer(s)));
            };
            if std::fs::symlink_metadata(&path).is_err() {
                return Err(tagged(Kind::Select, format!("source {s} does not exist; check the path")));
            }
            specs.push(Self::local(path, contents));
        }
        Ok(specs)
    }
}

/// What to include.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Recurse into directories.
    pub recursive: bool,
    /// Copy symlinks as symlinks (else skip them).
    pub links: bool,
    /// -x: do not descend into directories on another file system (mount points are still
    /// listed, empty, as rsync's -x lists them).
    pub one_file_system: bool,
    /// -m: directories with nothing but (pruned) directories beneath them are not listed.
    pub prune_empty_dirs: bool,
}

/// Where to read a scanned file: its path beneath a held root, and the inode the scan saw.
#[derive(Debug, Clone)]
pub struct SourceRef {
    /// The tree it belongs to.
    pub root: Arc<SourceRoot>,
    /// Its path relative to the root.
    pub rel: PathBuf,
    /// Device and inode at scan time.
    pub id: FileId,
    /// Size at scan time (what the file list says): the chunker sends exactly this much.
    pub size: u64,
}

impl SourceRef {
    /// Open it for reading (beneath the root, no symlinks, the same inode).
    pub fn open(&self) -> std::io::Result<(std::fs::File, crate::meta::Stat)> {
        self.root.open_file(&self.rel, Some(self.id))
    }

    /// Its path, for messages and manifest keys.
    pub fn display(&self) -> PathBuf {
        self.root.display(&self.rel)
    }
}

/// One scanned entry with where to read it.
#[derive(Debug, Clone)]
pub struct Item {
    /// The entry as sent.
    pub entry: Entry,
    /// Where to read it.
    pub src: SourceRef,
}

/// Something skipped, to report.
#[derive(Debug, Clone)]
pub enum Skip {
    /// Not a regular file, dir or link (or a link without -l, or a dir without -r).
    NonRegular(String),
    /// Directory skipped without -r.
    Directory(String),
    /// A name that cannot be transferred safely.
    BadName(String, String),
    /// Could not read it.
    Io(String, String),
}

/// Build an entry from an lstat beneath the root.
#[allow(clippy::unnecessary_cast)] // field types differ between architectures
fn entry_for(rel: SafeRelPath, st: &SourceStat) -> Option<Entry> {
    let kind = match st.file_type() {
        FileType::RegularFile => Kind::File { size: st.stat.st_size as u64 },
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink { target: st.target.clone().unwrap_or_default() },
        _ => return None,
    };
    Some(Entry {
        path: rel,
        kind,
        mode: (st.stat.st_mode as u32) & 0o7777,
        mtime: st.stat.st_mtime as i64,
        mtime_ns: st.stat.st_mtime_nsec as u32,
    })
}

/// Hold the spec's tree open: its root, the top entry's path in it (empty when the root is
/// the top) and the top's lstat.
fn open_top(spec: &SourceSpec) -> std::io::Result<(Arc<SourceRoot>, PathBuf, SourceStat)> {
    let parent_of = |p: &Path| -> PathBuf {
        match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    let name_of = |p: &Path| -> PathBuf { p.file_name().map(PathBuf::from).unwrap_or_default() };
    match &spec.within {
        Some(base) => {
            let st = base.lstat(&spec.path)?;
            if st.file_type() == FileType::Directory {
                let root = base.open_dir(&spec.path)?;
                let top = root.lstat(Path::new(""))?;
                if top.id() != st.id() {
                    return Err(std::io::Error::other("changed while it was opened; rerun"));
                }
                Ok((Arc::new(root), PathBuf::new(), top))
            } else {
                let root = base.open_dir(spec.path.parent().unwrap_or(Path::new("")))?;
                let name = name_of(&spec.path);
                let st = root.lstat(&name)?;
                Ok((Arc::new(root), name, st))
            }
        }
        None => {
            let md = std::fs::symlink_metadata(&spec.path)?;
            if md.is_dir() {
                let root = SourceRoot::open(&spec.path)?;
                let top = root.lstat(Path::new(""))?;
                Ok((Arc::new(root), PathBuf::new(), top))
            } else {
                let root = SourceRoot::open(&parent_of(&spec.path))?;
                let name = name_of(&spec.path);
                let st = root.lstat(&name)?;
                Ok((Arc::new(root), name, st))
            }
        }
    }
}

/// Walk one source; call `emit` for each entry (parents before children, names sorted) and `skip`
/// for what is left out.
pub fn scan(
    spec: &SourceSpec,
    opts: ScanOptions,
    filter: &Filter,
    emit: &mut dyn FnMut(Item) -> anyhow::Result<()>,
    skip: &mut dyn FnMut(Skip),
) -> anyhow::Result<()> {
    let (root, top_rel, top) = open_top(spec)
        .map_err(|e| crate::error::tagged(crate::error::Kind::Select, format!("{}: {e}", spec.path.display())))?;
    let is_dir = top.file_type() == FileType::Directory;
    let is_link = top.file_type() == FileType::Symlink;
    let src = |rel: &Path, st: &SourceStat| SourceRef {
        root: root.clone(),
        rel: rel.to_path_buf(),
        id: st.id(),
        size: st.stat.st_size as u64,
    };
    let base_name = || -> Result<String, Skip> {
        let n = spec.path.file_name().map(|n| n.to_string_lossy().into_owned());
        n.ok_or_else(|| Skip::BadName(spec.path.display().to_string(), "no file name".into()))
    };
    // Directory whose contents go to the destination root: the root entry plus children.
    if is_dir && (spec.contents || spec.path.file_name().is_none()) {
        if !opts.recursive {
            skip(Skip::Directory(".".into()));
            return Ok(());
        }
        if let Some(e) = entry_for(SafeRelPath::root(), &top) {
            emit(Item { entry: e, src: src(&top_rel, &top) })?;
        }
        return walk(&root, &SafeRelPath::root(), opts, filter, emit, skip);
    }
    let name = match spec.rename.clone().map_or_else(base_name, Ok) {
        Ok(n) => n,
        Err(s) => {
            skip(s);
            return Ok(());
        }
    };
    let rel = match SafeRelPath::new(&name) {
        Ok(r) => r,
        Err(e) => {
            skip(Skip::BadName(name, e.to_string()));
            return Ok(());
        }
    };
    if filter.excluded(rel.as_str(), is_dir) {
        return Ok(());
    }
    if is_dir && !opts.recursive {
        skip(Skip::Directory(name));
        return Ok(());
    }
    if is_link && !opts.links {
        skip(Skip::NonRegular(name));
        return Ok(());
    }
    match entry_for(rel.clone(), &top) {
        Some(e) => emit(Item { entry: e, src: src(&top_rel, &top) })?,
        None => {
            skip(Skip::NonRegular(name));
            return Ok(());
        }
    }
    if is_dir {
        walk(&root, &rel, opts, filter, emit, skip)?;
    }
    Ok(())
}

fn walk(
    root: &Arc<SourceRoot>,
    prefix: &SafeRelPath,
    opts: ScanOptions,
    filter: &Filter,
    emit: &mut dyn FnMut(Item) -> anyhow::Result<()>,
    skip: &mut dyn FnMut(Skip),
) -> anyhow::Result<()> {
    let root_path = root.path();
    let mut wb = ignore::WalkBuilder::new(root_path);
    wb.standard_filters(false)
        .hidden(false)
        .parents(false)
        .follow_links(false)
        .git_ignore(filter.gitignore)
        .require_git(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .same_file_system(opts.one_file_system)
        .sort_by_file_name(|a, b| a.cmp(b));
    let f2 = filter.clone();
    let root2 = root_path.to_path_buf();
    let prefix2 = prefix.clone();
    wb.filter_entry(move |de| {
        let Ok(rel) = de.path().strip_prefix(&root2) else { return true };
        if rel.as_os_str().is_empty() {
            return true;
        }
        let s = rel.to_string_lossy();
        let full = if prefix2.is_root() { s.into_owned() } else { format!("{}/{}", prefix2.as_str(), s) };
        let is_dir = de.file_type().is_some_and(|t| t.is_dir());
        !f2.excluded(&full, is_dir)
    });
    let mut dirs = DirCache::default();
    let mut pending: Vec<Item> = Vec::new();
    for res in wb.build() {
        let de = match res {
            Ok(d) => d,
            Err(e) => {
                skip(Skip::Io(root_path.display().to_string(), e.to_string()));
                continue;
            }
        };
        if de.depth() == 0 {
            continue;
        }
        let Ok(relp) = de.path().strip_prefix(root_path) else { continue };
        let Some(rels) = relp.to_str() else {
            skip(Skip::BadName(relp.display().to_string(), "name is not valid UTF-8".into()));
            continue;
        };
        let full = if prefix.is_root() { rels.to_owned() } else { format!("{}/{}", prefix.as_str(), rels) };
        let rel = match SafeRelPath::new(&full) {
            Ok(r) => r,
            Err(e) => {
                skip(Skip::BadName(full, e.to_string()));
                continue;
            }
        };
        let st = match root.lstat_in(&mut dirs, relp) {
            Ok(m) => m,
            Err(e) => {
                skip(Skip::Io(full, e.to_string()));
                continue;
            }
        };
        if st.file_type() == FileType::Symlink && !opts.links {
            skip(Skip::NonRegular(full));
            continue;
        }
        match entry_for(rel, &st) {
            Some(e) => {
                let src = SourceRef {
                    root: root.clone(),
                    rel: relp.to_path_buf(),
                    id: st.id(),
                    size: st.stat.st_size as u64,
                };
                let item = Item { entry: e, src };
                if !opts.prune_empty_dirs {
                    emit(item)?;
                    continue;
                }
                // -m: a directory is held back until something not a directory shows up
                // beneath it (the walk is depth first, sorted: the held ones are always one
                // chain of ancestors, at most as deep as the tree).
                while pending.last().is_some_and(|d| !item.entry.path.starts_with(&d.entry.path)) {
                    pending.pop();
                }
                if matches!(item.entry.kind, crate::proto::Kind::Dir) {
                    pending.push(item);
                } else {
                    for d in pending.drain(..) {
                        emit(d)?;
                    }
                    emit(item)?;
                }
            }
            None => skip(Skip::NonRegular(full)),
        }
    }
    Ok(())
}
