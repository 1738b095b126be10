//! The directory `pcp serve` offers, seen from a peer's request: what exists at a path the
//! peer named, the directories a push creates on the way to its root, and `pcp ls` listings.
//! Every step resolves beneath the served directory's open fd with no symlink followed
//! (`SourceRoot`, `mkdirat` + `openat(O_NOFOLLOW)`), never through a path string, so a
//! directory swapped for a symlink between two calls cannot lead outside (security.md T10).

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::source::{SourceRoot, SourceStat};
use crate::error::Kind;
use crate::path::SafeRelPath;
use crate::proto::session::{ListEntry, ListKind, MAX_LIST_ENTRIES};

/// A request the served directory cannot answer: the exit code's kind and a one-line reason
/// for the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Kind (exit code) the peer exits with.
    pub kind: Kind,
    /// Why.
    pub text: String,
}

fn refused(kind: Kind, text: impl Into<String>) -> Refusal {
    Refusal { kind, text: text.into() }
}

/// What exists at a path under the served directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Nothing there (every parent that exists is a real directory).
    Missing,
    /// A directory.
    Dir,
    /// A symlink (only possible for the last component).
    Link,
    /// A regular file or something else.
    Other,
}

fn rel_path(rel: &SafeRelPath) -> &Path {
    Path::new(rel.as_str())
}

fn io_refusal(rel: &SafeRelPath, e: &io::Error) -> Refusal {
    match e.raw_os_error() {
        Some(n) if n == rustix::io::Errno::NOTDIR.raw_os_error() => {
            refused(Kind::Select, format!("{rel}: a parent is not a directory"))
        }
        _ if e.kind() == io::ErrorKind::Other => {
            refused(Kind::Select, format!("{rel} goes through a symlink; refused"))
        }
        _ => refused(Kind::FileIo, format!("{rel}: {e}")),
    }
}

/// Look up `rel` beneath `root` without following any symlink on the way (a symlink as the
/// last component is reported, not followed).
pub fn lookup(root: &SourceRoot, rel: &SafeRelPath) -> Result<Found, Refusal> {
    match root.lstat(rel_path(rel)) {
        Ok(st) => Ok(match st.file_type() {
            FileType::Directory => Found::Dir,
            FileType::Symlink => Found::Link,
            _ => Found::Other,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Missing),
        Err(e) => Err(io_refusal(rel, &e)),
    }
}

/// Create the missing directories of `rel` beneath `root` (mode 0777 less the umask, like
/// `mkdir`), one component at a time, each opened with `O_NOFOLLOW` before the next is made
/// in it; returns the last one, held open (where a push writes).
pub fn make_dirs(root: &SourceRoot, rel: &SafeRelPath) -> Result<OwnedFd, Refusal> {
    let io = |e: rustix::io::Errno| refused(Kind::FileIo, format!("creating {rel}: {e}"));
    let mut cur = root.dup_fd().map_err(|e| refused(Kind::FileIo, format!("{rel}: {e}")))?;
    for c in rel.components() {
        match rustix::fs::mkdirat(&cur, c, Mode::from_raw_mode(0o777)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(io(e)),
        }
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        cur = match rustix::fs::openat(&cur, c, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => {
                return Err(refused(Kind::Select, format!("{rel} goes through a symlink; refused")))
            }
            Err(rustix::io::Errno::NOTDIR) => return Err(refused(Kind::Select, format!("{rel}: not a directory"))),
            Err(e) => return Err(io(e)),
        };
    }
    Ok(cur)
}

#[allow(clippy::unnecessary_cast)] // field types differ between architectures
fn entry_of(name: String, st: &rustix::fs::Stat, target: Option<Vec<u8>>) -> ListEntry {
    let kind = match FileType::from_raw_mode(st.st_mode as _) {
        FileType::RegularFile => ListKind::File,
        FileType::Directory => ListKind::Dir,
        FileType::Symlink => ListKind::Symlink,
        _ => ListKind::Other,
    };
    let mut target = if kind == ListKind::Symlink { target.unwrap_or_default() } else { Vec::new() };
    target.truncate(crate::proto::message::MAX_TARGET);
    ListEntry {
        name,
        kind,
        size: st.st_size as u64,
        mode: (st.st_mode as u32) & 0o7777,
        mtime: st.st_mtime as i64,
        target,
    }
}

fn listed(name: String, st: SourceStat) -> ListEntry {
    entry_of(name, &st.stat, st.target)
}

/// `pcp ls`: the entries of directory `rel` (not recursive, sorted, `.` first), or the one
/// entry `rel` names.
pub fn list(root: &SourceRoot, rel: &SafeRelPath) -> Result<Vec<ListEntry>, Refusal> {
    let io = |e: io::Error| io_refusal(rel, &e);
    match lookup(root, rel)? {
        Found::Missing => Err(refused(Kind::Select, format!("{rel}: no such file or directory on the peer"))),
        Found::Dir => {
            let dir = root.open_dir(rel_path(rel)).map_err(io)?;
            let mut out = vec![listed(".".into(), dir.lstat(Path::new("")).map_err(io)?)];
            let fd = dir.dup_fd().map_err(io)?;
            let mut names = Vec::new();
            let rd = rustix::fs::Dir::read_from(&fd).map_err(|e| io(e.into()))?;
            for e in rd {
                let e = e.map_err(|e| io(e.into()))?;
                let n = e.file_name().to_bytes();
                if n == b"." || n == b".." {
                    continue;
                }
                names.push(n.to_vec());
                if names.len() as u64 >= MAX_LIST_ENTRIES {
                    break;
                }
            }
            names.sort();
            for n in names {
                let name = OsStr::from_bytes(&n);
                let Ok(st) = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) else { continue };
                let target = if FileType::from_raw_mode(st.st_mode as _) == FileType::Symlink {
                    rustix::fs::readlinkat(&fd, name, Vec::new()).ok().map(|t| t.into_bytes())
                } else {
                    None
                };
                out.push(entry_of(name.to_string_lossy().into_owned(), &st, target));
            }
            Ok(out)
        }
        _ => {
            let st = root.lstat(rel_path(rel)).map_err(io)?;
            let name = rel.split_last().map(|(_, n)| n.to_owned()).unwrap_or_default();
            Ok(vec![listed(name, st)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_make_dirs_refuse_symlinked_parents() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", t.path().join("l")).unwrap();
        let root = SourceRoot::open(t.path()).unwrap();
        let p = |s: &str| SafeRelPath::new(s).unwrap();
        assert_eq!(lookup(&root, &p("d")).unwrap(), Found::Dir);
        assert_eq!(lookup(&root, &p("l")).unwrap(), Found::Link);
        assert_eq!(lookup(&root, &p("f")).unwrap(), Found::Other);
        assert_eq!(lookup(&root, &SafeRelPath::root()).unwrap(), Found::Dir);
        assert_eq!(lookup(&root, &p("d/n")).unwrap(), Found::Missing);
        assert_eq!(lookup(&root, &p("l/passwd")).unwrap_err().kind, Kind::Select);
        assert_eq!(lookup(&root, &p("f/x")).unwrap_err().kind, Kind::Select);
        assert!(make_dirs(&root, &p("l/x")).is_err());
        assert!(make_dirs(&root, &p("f/x")).is_err());
        make_dirs(&root, &p("d/a/b")).unwrap();
        assert!(t.path().join("d/a/b").is_dir());
    }

    #[test]
    fn listing_is_sorted_and_does_not_follow_links() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/b"), b"xy").unwrap();
        std::os::unix::fs::symlink("/etc", t.path().join("d/a")).unwrap();
        let root = SourceRoot::open(t.path()).unwrap();
        let l = list(&root, &SafeRelPath::new("d").unwrap()).unwrap();
        let names: Vec<_> = l.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(names, [(".", ListKind::Dir), ("a", ListKind::Symlink), ("b", ListKind::File)]);
        assert_eq!(l[1].target, b"/etc");
        assert_eq!(l[2].size, 2);
        let one = list(&root, &SafeRelPath::new("d/b").unwrap()).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].name, "b");
        assert!(list(&root, &SafeRelPath::new("d/a/passwd").unwrap()).is_err());
    }
}
