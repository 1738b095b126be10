//! Walk a source tree (stat only, no reads) and produce file-list entries in sorted order,
//! applying the filter and `.pcpignore` files. rsync's trailing-slash rule decides the names.

use std::path::{Path, PathBuf};

use crate::filter::{Filter, IGNORE_FILE};
use crate::fsio::path::SafeRelPath;
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
}

/// What to include.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Recurse into directories.
    pub recursive: bool,
    /// Copy symlinks as symlinks (else skip them).
    pub links: bool,
}

/// One scanned entry with where to read it.
#[derive(Debug, Clone)]
pub struct Item {
    /// The entry as sent.
    pub entry: Entry,
    /// Local path to read.
    pub local: PathBuf,
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

/// Build an entry from a path's lstat.
fn entry_for(local: &Path, rel: SafeRelPath, md: &std::fs::Metadata) -> Result<Option<Entry>, std::io::Error> {
    use std::os::unix::fs::MetadataExt;
    let ft = md.file_type();
    let kind = if ft.is_file() {
        Kind::File { size: md.len() }
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        use std::os::unix::ffi::OsStrExt;
        let t = std::fs::read_link(local)?;
        Kind::Symlink { target: t.as_os_str().as_bytes().to_vec() }
    } else {
        return Ok(None);
    };
    Ok(Some(Entry { path: rel, kind, mode: md.mode() & 0o7777, mtime: md.mtime(), mtime_ns: md.mtime_nsec() as u32 }))
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
    let md = std::fs::symlink_metadata(&spec.path).map_err(|e| anyhow::anyhow!("{}: {e}", spec.path.display()))?;
    let base_name = || -> Result<String, Skip> {
        let n = spec.path.file_name().map(|n| n.to_string_lossy().into_owned());
        n.ok_or_else(|| Skip::BadName(spec.path.display().to_string(), "no file name".into()))
    };
    // Directory whose contents go to the destination root: the root entry plus children.
    if md.is_dir() && (spec.contents || spec.path.file_name().is_none()) {
        if !opts.recursive {
            skip(Skip::Directory(".".into()));
            return Ok(());
        }
        if let Some(e) = entry_for(&spec.path, SafeRelPath::root(), &md)? {
            emit(Item { entry: e, local: spec.path.clone() })?;
        }
        return walk(&spec.path, &SafeRelPath::root(), opts, filter, emit, skip);
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
    if filter.excluded(rel.as_str(), md.is_dir()) {
        return Ok(());
    }
    if md.is_dir() && !opts.recursive {
        skip(Skip::Directory(name));
        return Ok(());
    }
    if md.file_type().is_symlink() && !opts.links {
        skip(Skip::NonRegular(name));
        return Ok(());
    }
    match entry_for(&spec.path, rel.clone(), &md)? {
        Some(e) => emit(Item { entry: e, local: spec.path.clone() })?,
        None => {
            skip(Skip::NonRegular(name));
            return Ok(());
        }
    }
    if md.is_dir() {
        walk(&spec.path, &rel, opts, filter, emit, skip)?;
    }
    Ok(())
}

fn walk(
    root: &Path,
    prefix: &SafeRelPath,
    opts: ScanOptions,
    filter: &Filter,
    emit: &mut dyn FnMut(Item) -> anyhow::Result<()>,
    skip: &mut dyn FnMut(Skip),
) -> anyhow::Result<()> {
    let mut wb = ignore::WalkBuilder::new(root);
    wb.standard_filters(false)
        .hidden(false)
        .parents(false)
        .follow_links(false)
        .git_ignore(filter.gitignore)
        .require_git(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .sort_by_file_name(|a, b| a.cmp(b));
    let f2 = filter.clone();
    let root2 = root.to_path_buf();
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
    for res in wb.build() {
        let de = match res {
            Ok(d) => d,
            Err(e) => {
                skip(Skip::Io(root.display().to_string(), e.to_string()));
                continue;
            }
        };
        if de.depth() == 0 {
            continue;
        }
        let local = de.path().to_path_buf();
        let Ok(relp) = local.strip_prefix(root) else { continue };
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
        let md = match std::fs::symlink_metadata(&local) {
            Ok(m) => m,
            Err(e) => {
                skip(Skip::Io(full, e.to_string()));
                continue;
            }
        };
        if md.file_type().is_symlink() && !opts.links {
            skip(Skip::NonRegular(full));
            continue;
        }
        match entry_for(&local, rel, &md) {
            Ok(Some(e)) => emit(Item { entry: e, local })?,
            Ok(None) => skip(Skip::NonRegular(full)),
            Err(e) => skip(Skip::Io(full, e.to_string())),
        }
    }
    Ok(())
}
