//! What the destination does with one entry of the source's list, given what is at its path:
//! rsync's generator decisions (quick check, itemize string, replace or keep), as a pure
//! function. No IO: the caller looks at the disk (lstat, readlink), asks [`decide`], and
//! applies the [`Action`] through fsio. So every decision is testable without a file system.

use crate::fsio::path::SafeRelPath;
use crate::fsio::{FType, Meta};
use crate::proto::{Entry, Flags, Kind};

/// The options that change decisions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opts {
    /// -p: permissions are copied.
    pub perms: bool,
    /// -t: mtimes are copied (and part of the quick check).
    pub times: bool,
    /// -c: compare content, not size + mtime.
    pub checksum: bool,
    /// --safe-links: links that leave the tree are ignored.
    pub safe_links: bool,
}

impl Opts {
    /// The options of a transfer's flags.
    pub fn from_flags(f: Flags) -> Self {
        Self {
            perms: f.has(Flags::PERMS),
            times: f.has(Flags::TIMES),
            checksum: f.has(Flags::CHECKSUM),
            safe_links: f.has(Flags::SAFE_LINKS),
        }
    }
}

/// What a receiver accepted (`pcp receive` shows the sender's list and asks): every entry of
/// the transfer must be one of these, with the same kind, size and link target. Checked by the
/// destination role itself for every entry, whatever carried it (security issue, item 3).
#[derive(Debug, Default, Clone)]
pub struct Offer {
    by_name: std::collections::HashMap<String, Offered>,
}

/// One accepted entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// A regular file of this size.
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symlink to this target.
    Symlink {
        /// Target bytes.
        target: Vec<u8>,
    },
}

impl Offer {
    /// Accept `name` (`.` for the root) as `what`.
    pub fn insert(&mut self, name: String, what: Offered) {
        self.by_name.insert(name, what);
    }

    /// Whether `e` is exactly an accepted entry.
    pub fn admits(&self, e: &Entry) -> bool {
        let name = if e.path.is_root() { "." } else { e.path.as_str() };
        match (self.by_name.get(name), &e.kind) {
            (Some(Offered::File { size }), Kind::File { size: s }) => size == s,
            (Some(Offered::Dir), Kind::Dir) => true,
            (Some(Offered::Symlink { target }), Kind::Symlink { target: t }) => target == t,
            _ => false,
        }
    }
}

/// What is at the entry's path now.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// Its lstat, `None` if nothing is there.
    pub meta: Option<Meta>,
    /// Its target, when it is a symlink (read by the caller only for symlink entries).
    pub link_target: Option<&'a [u8]>,
}

/// One entry's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to change.
    Keep,
    /// A directory is there already; `item` is its itemize line when its mtime differs
    /// (directory metadata is applied after the contents).
    DirExists {
        /// Itemize string, if anything changes.
        item: Option<&'static str>,
    },
    /// Make the directory, removing what is in the way first (`replace`).
    MakeDir {
        /// Something else is at the path.
        replace: bool,
    },
    /// A symlink that leaves the tree, under --safe-links: skipped with a warning.
    SkipUnsafeLink,
    /// The right symlink is there; only its mtime differs.
    LinkTime,
    /// Make the symlink (atomically over a file or link; a directory in the way goes first).
    MakeLink {
        /// A directory is in the way.
        remove_dir: bool,
        /// Nothing was at the path.
        created: bool,
    },
    /// The file is up to date but for its permission bits.
    FileMode {
        /// The mode to set.
        mode: u32,
    },
    /// The file differs (or -c): ask for its chunk list.
    Transfer {
        /// Itemize string (`>f+++++++++` for a new file).
        item: String,
        /// Mode of the regular file at the path, if there is one (kept without -p).
        existed_mode: Option<u32>,
    },
}

/// Decide what to do with `e` given `cur`.
pub fn decide(e: &Entry, cur: Current<'_>, o: Opts) -> Action {
    let m = cur.meta;
    let mtime_differs = |m: &Meta| m.stat.mtime != e.mtime || m.stat.mtime_ns != e.mtime_ns;
    match &e.kind {
        Kind::Dir => match m.map(|m| m.ftype) {
            Some(FType::Dir) => {
                let differs = m.is_some_and(|m| m.stat.mtime != e.mtime);
                Action::DirExists { item: (o.times && differs && !e.path.is_root()).then_some(".d..t......") }
            }
            other => Action::MakeDir { replace: other.is_some() },
        },
        Kind::Symlink { target } => {
            if o.safe_links && !link_is_safe(&e.path, target) {
                return Action::SkipUnsafeLink;
            }
            let same = m.is_some_and(|m| m.ftype == FType::Symlink) && cur.link_target == Some(&target[..]);
            if same {
                return if o.times && m.is_some_and(|m| mtime_differs(&m)) { Action::LinkTime } else { Action::Keep };
            }
            Action::MakeLink { remove_dir: m.is_some_and(|m| m.ftype == FType::Dir), created: m.is_none() }
        }
        Kind::File { size } => {
            let file = m.filter(|m| m.ftype == FType::File);
            let quick_same = file.is_some_and(|m| m.stat.size == *size && (!o.times || !mtime_differs(&m)));
            if quick_same && !o.checksum {
                return match file {
                    Some(m) if o.perms && m.mode != e.mode & 0o777 => Action::FileMode { mode: e.mode & 0o777 },
                    _ => Action::Keep,
                };
            }
            let item = match file {
                Some(m) => {
                    let s = if m.stat.size != *size { 's' } else { '.' };
                    let t = if o.times && mtime_differs(&m) { 't' } else { '.' };
                    let p = if o.perms && m.mode != e.mode & 0o777 { 'p' } else { '.' };
                    format!(">f.{s}{t}{p}.....")
                }
                None => ">f+++++++++".to_owned(),
            };
            Action::Transfer { item, existed_mode: file.map(|m| m.mode) }
        }
    }
}

/// Whether a symlink at `path` pointing to `target` stays inside the tree (rsync's
/// --safe-links rule: not absolute, never climbing above the root).
pub fn link_is_safe(path: &SafeRelPath, target: &[u8]) -> bool {
    if target.first() == Some(&b'/') {
        return false;
    }
    let mut depth: i64 = path.components().count() as i64 - 1;
    for comp in target.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Stat;

    fn entry(path: &str, kind: Kind, mode: u32, mtime: i64) -> Entry {
        Entry { path: SafeRelPath::new(path).unwrap(), kind, mode, mtime, mtime_ns: 0 }
    }

    fn meta(ftype: FType, size: u64, mode: u32, mtime: i64) -> Option<Meta> {
        Some(Meta { ftype, mode, stat: Stat { size, mtime, mtime_ns: 0, ..Stat::default() } })
    }

    fn at(meta: Option<Meta>) -> Current<'static> {
        Current { meta, link_target: None }
    }

    const A: Opts = Opts { perms: true, times: true, checksum: false, safe_links: false };

    #[test]
    fn files_quick_check_and_itemize() {
        let f = entry("f", Kind::File { size: 10 }, 0o644, 100);
        assert_eq!(decide(&f, at(None), A), Action::Transfer { item: ">f+++++++++".into(), existed_mode: None });
        assert_eq!(decide(&f, at(meta(FType::File, 10, 0o644, 100)), A), Action::Keep);
        assert_eq!(decide(&f, at(meta(FType::File, 10, 0o600, 100)), A), Action::FileMode { mode: 0o644 });
        assert_eq!(
            decide(&f, at(meta(FType::File, 11, 0o600, 99)), A),
            Action::Transfer { item: ">f.stp.....".into(), existed_mode: Some(0o600) }
        );
        // without -t the mtime is not compared; without -p the mode is not either
        let plain = Opts::default();
        assert_eq!(decide(&f, at(meta(FType::File, 10, 0o600, 5)), plain), Action::Keep);
        // -c: same size and time still transfers (the content decides, via chunk hashes)
        let c = Opts { checksum: true, ..A };
        assert_eq!(
            decide(&f, at(meta(FType::File, 10, 0o644, 100)), c),
            Action::Transfer { item: ">f.........".into(), existed_mode: Some(0o644) }
        );
        // a directory or link in the way: a new file
        assert_eq!(
            decide(&f, at(meta(FType::Dir, 0, 0o755, 100)), A),
            Action::Transfer { item: ">f+++++++++".into(), existed_mode: None }
        );
    }

    #[test]
    fn dirs() {
        let d = entry("d", Kind::Dir, 0o755, 100);
        assert_eq!(decide(&d, at(None), A), Action::MakeDir { replace: false });
        assert_eq!(decide(&d, at(meta(FType::File, 1, 0o644, 1)), A), Action::MakeDir { replace: true });
        assert_eq!(decide(&d, at(meta(FType::Dir, 0, 0o755, 100)), A), Action::DirExists { item: None });
        assert_eq!(decide(&d, at(meta(FType::Dir, 0, 0o755, 7)), A), Action::DirExists { item: Some(".d..t......") });
    }

    #[test]
    fn links() {
        let l = entry("a/l", Kind::Symlink { target: b"../x".to_vec() }, 0o777, 100);
        let here =
            |t: &'static [u8], mtime| Current { meta: meta(FType::Symlink, 4, 0o777, mtime), link_target: Some(t) };
        assert_eq!(decide(&l, at(None), A), Action::MakeLink { remove_dir: false, created: true });
        assert_eq!(decide(&l, here(b"../x", 100), A), Action::Keep);
        assert_eq!(decide(&l, here(b"../x", 5), A), Action::LinkTime);
        assert_eq!(decide(&l, here(b"../y", 100), A), Action::MakeLink { remove_dir: false, created: false });
        assert_eq!(
            decide(&l, at(meta(FType::Dir, 0, 0o755, 1)), A),
            Action::MakeLink { remove_dir: true, created: false }
        );
        let up = entry("l", Kind::Symlink { target: b"../x".to_vec() }, 0o777, 100);
        assert_eq!(decide(&up, at(None), Opts { safe_links: true, ..A }), Action::SkipUnsafeLink);
        assert_eq!(
            decide(&l, at(None), Opts { safe_links: true, ..A }),
            Action::MakeLink { remove_dir: false, created: true }
        );
    }
}
