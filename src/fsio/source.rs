//! Reading a source tree without leaving it. A [`SourceRoot`] holds the tree's directory open;
//! every later lstat, readlink and open of an entry resolves its relative path beneath that fd
//! with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (component by component with
//! `O_NOFOLLOW` where openat2 is missing). So a directory of the tree swapped for a symlink
//! between the scan and the read — by another process, or by a second session of a peer —
//! makes the read fail instead of reaching outside the tree (security.md T10, T11, T36).
//! Opening a file also checks that it is still the regular file the scan saw (device and
//! inode), opens it non-blocking (a FIFO swapped in cannot block the sender) and refuses
//! anything that is not a regular file.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use crate::meta::Stat;
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

/// Identity of a scanned file: the open must find this very inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    /// st_dev.
    pub dev: u64,
    /// st_ino.
    pub ino: u64,
}

impl FileId {
    #[allow(clippy::unnecessary_cast)] // field types differ between architectures
    fn of(st: &rustix::fs::Stat) -> Self {
        Self { dev: st.st_dev as u64, ino: st.st_ino as u64 }
    }
}

/// What an lstat beneath the root found.
#[derive(Debug, Clone)]
pub struct SourceStat {
    /// The raw stat (of the entry itself, never a link's target).
    pub stat: rustix::fs::Stat,
    /// The link target, when the entry is a symlink.
    pub target: Option<Vec<u8>>,
}

impl SourceStat {
    /// The entry's file type.
    pub fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.stat.st_mode as _)
    }

    /// Device and inode.
    pub fn id(&self) -> FileId {
        FileId::of(&self.stat)
    }
}

/// The last directory a walk looked into, held open beneath its root ([`SourceRoot::lstat_in`]).
#[derive(Debug, Default)]
pub struct DirCache(Option<(PathBuf, OwnedFd)>);

/// A source tree's top directory, held open.
#[derive(Debug)]
pub struct SourceRoot {
    fd: OwnedFd,
    path: PathBuf,
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS).union(ResolveFlags::NO_MAGICLINKS);

/// Error for an entry that is not (or no longer) what the scan saw.
fn changed(what: &str) -> io::Error {
    io::Error::other(format!("{what}; it changed since it was listed (rerun to send it)"))
}

impl SourceRoot {
    /// Open directory `path` as given by the user (symlinks in the path the user typed are
    /// followed, as rsync does for its arguments).
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(path, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Self { fd, path: path.to_path_buf() })
    }

    /// Open directory `rel` beneath this root (no symlink followed on the way) as a root of
    /// its own: for a subtree a peer asked for.
    pub fn open_dir(&self, rel: &Path) -> io::Result<Self> {
        let fd = self.beneath(rel, OFlags::DIRECTORY | OFlags::RDONLY)?;
        Ok(Self { fd, path: self.path.join(rel) })
    }

    /// A duplicate of the held directory fd (to write beneath a directory resolved this way).
    pub fn dup_fd(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// The root's path (for messages and manifest keys; never opened again).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel` under the root, for display.
    pub fn display(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// Resolve `rel` beneath the root with no symlink anywhere (the last component included,
    /// unless `flags` has `O_PATH`, which then opens a final symlink itself).
    fn beneath(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        // openat2 refuses any flag beside these three with O_PATH.
        let extra = if flags.contains(OFlags::PATH) { OFlags::empty() } else { OFlags::NOCTTY };
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | extra;
        let rel: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), RESOLVE) {
            Ok(fd) => Ok(fd),
            // No openat2 (kernel < 5.6, or filtered): walk the components ourselves.
            Err(rustix::io::Errno::NOSYS) => self.beneath_by_components(rel, flags),
            Err(rustix::io::Errno::XDEV) | Err(rustix::io::Errno::LOOP) => Err(io::Error::other(
                "a symlink or a path outside the source tree is in the way; refusing to follow it",
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn beneath_by_components(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let comps: Vec<&std::ffi::OsStr> = rel
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| match c {
                Component::Normal(n) => Ok(n),
                _ => Err(io::Error::other("not a relative path inside the source tree")),
            })
            .collect::<io::Result<_>>()?;
        let Some((last, dirs)) = comps.split_last() else {
            return Ok(rustix::fs::openat(&self.fd, ".", flags, Mode::empty())?);
        };
        let mut cur: Option<OwnedFd> = None;
        for d in dirs {
            let next = match &cur {
                Some(fd) => rustix::fs::openat(fd, *d, dir_flags, Mode::empty()),
                None => rustix::fs::openat(&self.fd, *d, dir_flags, Mode::empty()),
            };
            cur = Some(next.map_err(|e| {
                if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
                    io::Error::other("a symlink or non-directory is in the path; refusing to follow it")
                } else {
                    e.into()
                }
            })?);
        }
        let fd = match &cur {
            Some(fd) => rustix::fs::openat(fd, *last, flags, Mode::empty()),
            None => rustix::fs::openat(&self.fd, *last, flags, Mode::empty()),
        };
        Ok(fd?)
    }

    /// lstat `rel` (empty: the root itself) and read its target if it is a symlink.
    pub fn lstat(&self, rel: &Path) -> io::Result<SourceStat> {
        if rel.as_os_str().is_empty() {
            let stat = rustix::fs::fstat(&self.fd)?;
            return Ok(SourceStat { stat, target: None });
        }
        // O_PATH | O_NOFOLLOW opens a final symlink itself (openat2(2)); no data is read.
        let fd = self.beneath(rel, OFlags::PATH)?;
        let stat = rustix::fs::fstat(&fd)?;
        let target = if FileType::from_raw_mode(stat.st_mode as _) == FileType::Symlink {
            Some(rustix::fs::readlinkat(&fd, "", Vec::new())?.into_bytes())
        } else {
            None
        };
        Ok(SourceStat { stat, target })
    }

    /// Like [`SourceRoot::lstat`], for a walk: the parent directory is opened beneath the root
    /// once (kept in `cache` for its siblings) and each entry costs one `fstatat` with
    /// `AT_SYMLINK_NOFOLLOW` on it, instead of an open, a stat and a close.
    pub fn lstat_in(&self, cache: &mut DirCache, rel: &Path) -> io::Result<SourceStat> {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return self.lstat(rel);
        };
        if cache.0.as_ref().map(|(p, _)| p.as_path()) != Some(parent) {
            cache.0 = None;
            let fd = self.beneath(parent, OFlags::PATH | OFlags::DIRECTORY)?;
            cache.0 = Some((parent.to_path_buf(), fd));
        }
        let Some((_, dir)) = &cache.0 else { return self.lstat(rel) };
        let stat = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
        let target = if FileType::from_raw_mode(stat.st_mode as _) == FileType::Symlink {
            Some(rustix::fs::readlinkat(dir, name, Vec::new())?.into_bytes())
        } else {
            None
        };
        Ok(SourceStat { stat, target })
    }

    /// Open regular file `rel` for reading. With `expect`, it must be that inode (the one the
    /// scan listed). FIFOs, devices and sockets are refused without blocking.
    /// Returns the file with the stat of the opened inode (its one `fstat`).
    pub fn open_file(&self, rel: &Path, expect: Option<FileId>) -> io::Result<(File, Stat)> {
        let fd = self.beneath(rel, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode as _) != FileType::RegularFile {
            return Err(changed("not a regular file any more"));
        }
        if expect.is_some_and(|id| id != FileId::of(&st)) {
            return Err(changed("replaced by another file"));
        }
        Ok((File::from(fd), super::meta_of(&st).stat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_beneath_and_refuses_symlinked_parents() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("l")).unwrap();
        std::os::unix::fs::symlink("f", t.path().join("d/lf")).unwrap();
        let r = SourceRoot::open(t.path()).unwrap();
        let st = r.lstat(Path::new("d/f")).unwrap();
        assert!(r.open_file(Path::new("d/f"), Some(st.id())).is_ok());
        assert!(r.open_file(Path::new("l/secret"), None).is_err());
        assert!(r.lstat(Path::new("l/secret")).is_err());
        assert_eq!(r.lstat(Path::new("d/lf")).unwrap().target.as_deref(), Some(&b"f"[..]));
        assert!(r.open_file(Path::new("d/lf"), None).is_err(), "a final symlink is not followed");
        assert!(r.open_dir(Path::new("l")).is_err());
        let mut c = DirCache::default();
        assert_eq!(r.lstat_in(&mut c, Path::new("d/f")).unwrap().id(), st.id());
        assert_eq!(r.lstat_in(&mut c, Path::new("d/lf")).unwrap().target.as_deref(), Some(&b"f"[..]));
        assert!(r.lstat_in(&mut c, Path::new("l/secret")).is_err(), "a symlinked parent is refused");
        assert!(r.beneath_by_components(Path::new("l/secret"), OFlags::RDONLY).is_err());
        assert!(r.beneath_by_components(Path::new("d/f"), OFlags::RDONLY).is_ok());
        // Replaced after the scan: another inode.
        // (made before the old one goes, so the inode number cannot be reused)
        std::fs::write(t.path().join("d/g"), b"y").unwrap();
        std::fs::rename(t.path().join("d/g"), t.path().join("d/f")).unwrap();
        assert!(r.open_file(Path::new("d/f"), Some(st.id())).is_err());
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let t = tempfile::tempdir().unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, t.path().join("p"), FileType::Fifo, Mode::from_raw_mode(0o600), 0)
            .unwrap();
        let r = SourceRoot::open(t.path()).unwrap();
        assert!(r.open_file(Path::new("p"), None).is_err());
    }
}
