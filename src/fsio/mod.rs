//! All filesystem writes. Writes are relative to directory file descriptors opened beneath the
//! destination root one component at a time with `O_NOFOLLOW`, so no symlink is ever followed
//! while writing and nothing outside the root can be touched (security.md T10–T13, T18).
//! New content goes to a temp file (`.pcp-tmp.<random>`, `O_CREAT|O_EXCL|O_NOFOLLOW`) that is
//! fsynced and renamed over the final name: a crash leaves old or new content, never a mix.

pub mod backup;
pub mod keyfile;
pub mod lock;
pub mod served;
pub mod source;
pub mod trust;

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};

use crate::meta::Stat;
pub use crate::meta::{FType, Meta};
use crate::path::SafeRelPath;

/// Prefix of temp files; the destination scanner treats such names as pcp's own.
pub const TEMP_PREFIX: &str = ".pcp-tmp.";

/// Errors of the file layer; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// Path (relative to the destination root, or absolute).
        path: String,
        /// Cause.
        source: io::Error,
    },
    /// A symlink or non-directory sits where a directory must be.
    #[error("{0}: a symlink or non-directory is in the path; refusing to follow it")]
    NotADir(String),
    /// The root's path goes through a symlink owned by another user (its message says all).
    #[error("{0}")]
    Untrusted(trust::Error),
}

fn ioe(path: &impl std::fmt::Display, source: impl Into<io::Error>) -> Error {
    Error::Io { path: path.to_string(), source: source.into() }
}

/// The `Meta` of a raw stat.
#[allow(clippy::unnecessary_cast)] // field types differ between architectures
pub(crate) fn meta_of(st: &rustix::fs::Stat) -> Meta {
    let ftype = match FileType::from_raw_mode(st.st_mode as _) {
        FileType::RegularFile => FType::File,
        FileType::Directory => FType::Dir,
        FileType::Symlink => FType::Symlink,
        _ => FType::Other,
    };
    Meta {
        ftype,
        mode: (st.st_mode as u32) & 0o7777,
        stat: Stat {
            size: st.st_size as u64,
            mtime: st.st_mtime as i64,
            mtime_ns: st.st_mtime_nsec as u32,
            ino: st.st_ino as u64,
            ctime: st.st_ctime as i64,
            ctime_ns: st.st_ctime_nsec as u32,
        },
    }
}

/// Create `dir` and its parents with mode 0700 (for state and config directories).
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// A private empty directory in the temp directory (mode 0700, a random name created with
/// `mkdir`, which never follows a planted symlink), removed when dropped: what a dry run into
/// a missing destination plans against.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Make one.
    pub fn new() -> Result<Self, Error> {
        let base = std::env::temp_dir();
        for _ in 0..16 {
            let path = base.join(format!("pcp-dry-{}", random_suffix()));
            match rustix::fs::mkdir(&path, Mode::from_raw_mode(0o700)) {
                Ok(()) => return Ok(Self { path }),
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => return Err(ioe(&path.display(), e)),
            }
        }
        Err(ioe(&base.display(), io::Error::other("could not create a private scratch directory")))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = rustix::fs::rmdir(&self.path);
    }
}

/// The destination tree: every write goes through here.
pub struct DestRoot {
    root: OwnedFd,
    root_path: PathBuf,
    cache: Option<(SafeRelPath, Arc<OwnedFd>)>,
}

/// A temp file being assembled in the destination.
pub struct TempFile {
    /// Open for reading and writing.
    pub file: File,
    /// Directory (relative to the root) holding it.
    pub dir: SafeRelPath,
    /// Its name inside `dir`.
    pub name: String,
    /// Created empty by this run (not a temp kept from an interrupted one): once every chunk of
    /// a file is written it has exactly the file's size, and needs no `ftruncate`.
    pub fresh: bool,
    /// The mode it was created with, if this run created it (see [`DestRoot::create_temp`]).
    created_mode: Option<u32>,
    keep: bool,
    /// Its directory, shared with the root's cache (no `dup` per temp file).
    dirfd: Option<Arc<OwnedFd>>,
}

impl TempFile {
    /// Path of the temp file relative to the root.
    pub fn rel(&self) -> String {
        if self.dir.is_root() {
            self.name.clone()
        } else {
            format!("{}/{}", self.dir.as_str(), self.name)
        }
    }

    /// Leave the file on disk when dropped (resume keeps it).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            if let Some(d) = &self.dirfd {
                let _ = rustix::fs::unlinkat(d, self.name.as_str(), AtFlags::empty());
            }
        }
    }
}

/// The process umask, read once (set and restored at once: nothing else in pcp changes it).
pub fn process_umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let old = rustix::process::umask(Mode::from_raw_mode(0o022));
        rustix::process::umask(old);
        old.as_raw_mode() as u32 & 0o777
    })
}

/// A fresh temp-name suffix: one random prefix per process (drawn once) and a counter, so a
/// temp file costs no `getrandom` call (issue 11: one syscall less per file). Names stay
/// unguessable across runs; within a run, `O_CREAT|O_EXCL|O_NOFOLLOW` is what guarantees we
/// never open or follow someone else's file, and a name taken by someone else is skipped.
fn random_suffix() -> String {
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut b = [0u8; 8];
        // If the OS RNG fails, the pid and the time still make runs differ.
        if getrandom::fill(&mut b).is_err() {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            b = (u64::from(std::process::id()) << 32 ^ t.as_nanos() as u64).to_le_bytes();
        }
        u64::from_le_bytes(b)
    });
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix:016x}{n:x}")
}

fn ts(sec: i64, nsec: u32) -> Timestamps {
    let t = Timespec { tv_sec: sec, tv_nsec: i64::from(nsec.min(999_999_999)) as _ };
    Timestamps { last_access: t, last_modification: t }
}

impl DestRoot {
    /// Open the destination root, creating it (and parents) if `create`.
    pub fn open(path: &Path, create: bool) -> Result<Self, Error> {
        if create {
            std::fs::create_dir_all(path).map_err(|e| ioe(&path.display(), e))?;
        }
        // One walk checks every symlink on the way (owned by root or the user, trust.rs) and
        // opens the directory it leads to: nothing resolves the path again.
        let root = trust::open_dir(path).map_err(|e| match e {
            trust::Error::Io { source, .. } => ioe(&path.display(), source),
            other => Error::Untrusted(other),
        })?;
        Ok(Self { root, root_path: path.to_path_buf(), cache: None })
    }

    /// A destination root already opened (beneath a served directory, with no symlink
    /// followed): nothing is resolved by path again.
    pub fn from_fd(root: OwnedFd, path: &Path) -> Self {
        Self { root, root_path: path.to_path_buf(), cache: None }
    }

    /// The root's path as given.
    pub fn path(&self) -> &Path {
        &self.root_path
    }

    fn disp(&self, rel: &SafeRelPath) -> String {
        rel.under(&self.root_path).display().to_string()
    }

    /// Open directory `rel` beneath the root without following any symlink.
    fn open_dir(&self, rel: &SafeRelPath) -> Result<OwnedFd, Error> {
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut fd = rustix::fs::openat(&self.root, ".", flags, Mode::empty()).map_err(|e| ioe(&self.disp(rel), e))?;
        for comp in rel.components() {
            fd = rustix::fs::openat(&fd, comp, flags, Mode::empty()).map_err(|e| {
                if e == rustix::io::Errno::NOTDIR || e == rustix::io::Errno::LOOP {
                    Error::NotADir(self.disp(rel))
                } else {
                    ioe(&self.disp(rel), e)
                }
            })?;
        }
        Ok(fd)
    }

    /// Parent directory fd of `rel` (cached for runs of siblings) and the final name.
    fn parent<'a>(&mut self, rel: &'a SafeRelPath) -> Result<(&OwnedFd, &'a str), Error> {
        let (parent, name) = rel.split_last().ok_or_else(|| ioe(&".", io::Error::other("the root has no parent")))?;
        let hit = matches!(&self.cache, Some((p, _)) if *p == parent);
        if !hit {
            let fd = self.open_dir(&parent)?;
            self.cache = Some((parent, Arc::new(fd)));
        }
        match &self.cache {
            Some((_, fd)) => Ok((fd, name)),
            None => Err(ioe(&self.disp(rel), io::Error::other("directory cache"))),
        }
    }

    /// The cached directory's fd, shared (after [`DestRoot::parent`] filled the cache).
    fn cached_dir(&self, d: &str) -> Result<Arc<OwnedFd>, Error> {
        match &self.cache {
            Some((_, fd)) => Ok(fd.clone()),
            None => Err(ioe(&d, io::Error::other("directory cache"))),
        }
    }

    /// Forget the cached directory (after removing or replacing directories).
    pub fn invalidate(&mut self) {
        self.cache = None;
    }

    /// lstat `rel`; `None` if absent (or its parent is not a directory).
    pub fn lstat(&mut self, rel: &SafeRelPath) -> Result<Option<Meta>, Error> {
        if rel.is_root() {
            let st = rustix::fs::fstat(&self.root).map_err(|e| ioe(&self.disp(rel), e))?;
            return Ok(Some(meta_of(&st)));
        }
        let d = self.disp(rel);
        let (fd, name) = match self.parent(rel) {
            Ok(x) => x,
            Err(Error::NotADir(_)) => return Ok(None),
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(meta_of(&st))),
            Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => Ok(None),
            Err(e) => Err(ioe(&d, e)),
        }
    }

    /// Read a symlink's target.
    pub fn readlink(&mut self, rel: &SafeRelPath) -> Result<Vec<u8>, Error> {
        let d = self.disp(rel);
        let (fd, name) = self.parent(rel)?;
        rustix::fs::readlinkat(fd, name, Vec::new()).map(|c| c.into_bytes()).map_err(|e| ioe(&d, e))
    }

    /// Create directory `rel` (its parent must exist).
    pub fn mkdir(&mut self, rel: &SafeRelPath, mode: u32) -> Result<(), Error> {
        let d = self.disp(rel);
        let (fd, name) = self.parent(rel)?;
        match rustix::fs::mkdirat(fd, name, Mode::from_raw_mode(mode | 0o700)) {
            Ok(()) => Ok(()),
            Err(e) => Err(ioe(&d, e)),
        }
    }

    /// Create or replace symlink `rel` atomically (temp name, then rename).
    pub fn symlink(&mut self, rel: &SafeRelPath, target: &[u8]) -> Result<(), Error> {
        let d = self.disp(rel);
        let (fd, name) = self.parent(rel)?;
        let tmp = format!("{TEMP_PREFIX}{}", random_suffix());
        rustix::fs::symlinkat(OsStr::from_bytes(target), fd, tmp.as_str()).map_err(|e| ioe(&d, e))?;
        if let Err(e) = rustix::fs::renameat(fd, tmp.as_str(), fd, name) {
            let _ = rustix::fs::unlinkat(fd, tmp.as_str(), AtFlags::empty());
            return Err(ioe(&d, e));
        }
        Ok(())
    }

    /// Remove `rel` whatever it is; directories recursively. Never follows links.
    pub fn remove_all(&mut self, rel: &SafeRelPath) -> Result<(), Error> {
        let d = self.disp(rel);
        let (fd, name) = self.parent(rel)?;
        let fd = fd.try_clone().map_err(|e| ioe(&d, e))?;
        let name = name.to_owned();
        self.invalidate();
        remove_at(&fd, &name, 0).map_err(|e| ioe(&d, e))
    }

    /// Create a temp file next to `rel`.
    ///
    /// It is created with `mode` (its final mode; never setuid, setgid or sticky, and always
    /// readable and writable by its owner, so a kept temp can be reopened to resume), less the
    /// process umask: when that is already the final mode, [`DestRoot::seal`] needs no `fchmod`
    /// (issue 11: one syscall per file). Like rsync's temp files, a partial file is as readable
    /// as the finished one will be.
    pub fn create_temp(&mut self, rel: &SafeRelPath, mode: u32) -> Result<TempFile, Error> {
        let d = self.disp(rel);
        let (parent, _) =
            rel.split_last().ok_or_else(|| ioe(&d, io::Error::other("cannot write the root as a file")))?;
        self.parent(rel)?;
        let dirfd = self.cached_dir(&d)?;
        for _ in 0..16 {
            let name = format!("{TEMP_PREFIX}{}", random_suffix());
            let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::RDWR | OFlags::CLOEXEC;
            let asked = (mode & 0o777) | 0o600;
            match rustix::fs::openat(&dirfd, name.as_str(), flags, Mode::from_raw_mode(asked)) {
                Ok(f) => {
                    return Ok(TempFile {
                        file: File::from(f),
                        dir: parent,
                        name,
                        fresh: true,
                        created_mode: Some(asked & !process_umask()),
                        keep: false,
                        dirfd: Some(dirfd),
                    })
                }
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => return Err(ioe(&d, e)),
            }
        }
        Err(ioe(&d, io::Error::other("could not create a unique temp file")))
    }

    /// Reopen an existing temp file kept for resume.
    pub fn reopen_temp(&mut self, temp_rel: &SafeRelPath) -> Result<TempFile, Error> {
        let d = self.disp(temp_rel);
        let (parent, name) = temp_rel.split_last().ok_or_else(|| ioe(&d, io::Error::other("bad temp name")))?;
        self.parent(temp_rel)?;
        let dirfd = self.cached_dir(&d)?;
        let f = rustix::fs::openat(&dirfd, name, OFlags::NOFOLLOW | OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| ioe(&d, e))?;
        Ok(TempFile {
            file: File::from(f),
            dir: parent,
            name: name.to_owned(),
            fresh: false,
            created_mode: None,
            keep: false,
            dirfd: Some(dirfd),
        })
    }

    /// Open an existing regular file for reading, without following links.
    pub fn open_read(&mut self, rel: &SafeRelPath) -> Result<File, Error> {
        let d = self.disp(rel);
        let (fd, name) = self.parent(rel)?;
        let f = rustix::fs::openat(fd, name, OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| ioe(&d, e))?;
        Ok(File::from(f))
    }

    /// Give the finished temp file its final mode and mtime (before it is made durable).
    pub fn seal(&self, tmp: &TempFile, rel: &SafeRelPath, mode: u32, mtime: Option<(i64, u32)>) -> Result<(), Error> {
        let d = self.disp(rel);
        if tmp.created_mode != Some(mode) {
            rustix::fs::fchmod(&tmp.file, Mode::from_raw_mode(mode)).map_err(|e| ioe(&d, e))?;
        }
        if let Some((s, ns)) = mtime {
            rustix::fs::futimens(&tmp.file, &ts(s, ns)).map_err(|e| ioe(&d, e))?;
        }
        Ok(())
    }

    /// Bytes an unprivileged writer may still use on the destination's file system.
    pub fn free_space(&self) -> Result<u64, Error> {
        let v = rustix::fs::fstatvfs(&self.root).map_err(|e| ioe(&self.root_path.display(), e))?;
        Ok(v.f_bavail.saturating_mul(v.f_frsize))
    }

    /// Make everything written so far durable: one `syncfs` of the destination's file system
    /// (one journal commit for a whole batch of files, where an fsync per file costs one each:
    /// 20,000 small files took 52 s on this VM's disk that way, against 2 s).
    pub fn sync_fs(&self) -> Result<(), Error> {
        rustix::fs::syncfs(&self.root).map_err(|e| ioe(&self.root_path.display(), e))
    }

    /// Rename the (sealed) temp file over `rel`. Whatever is at `rel` (a file or a link) is
    /// replaced atomically; a directory there must have been removed first. Returns the final
    /// stat when asked (`stat`: one `fstat` more).
    pub fn install(&mut self, mut tmp: TempFile, rel: &SafeRelPath, stat: bool) -> Result<Option<Meta>, Error> {
        let d = self.disp(rel);
        let (_, name) = rel.split_last().ok_or_else(|| ioe(&d, io::Error::other("cannot write the root as a file")))?;
        let dirfd = tmp.dirfd.as_ref().ok_or_else(|| ioe(&d, io::Error::other("temp without directory")))?;
        rustix::fs::renameat(dirfd, tmp.name.as_str(), dirfd, name).map_err(|e| ioe(&d, e))?;
        tmp.keep = true; // renamed: nothing to clean up
        if !stat {
            return Ok(None);
        }
        let st = rustix::fs::fstat(&tmp.file).map_err(|e| ioe(&d, e))?;
        Ok(Some(meta_of(&st)))
    }

    /// Set mode and/or mtime of an existing entry (links: mtime only).
    pub fn set_meta(
        &mut self,
        rel: &SafeRelPath,
        is_link: bool,
        mode: Option<u32>,
        mtime: Option<(i64, u32)>,
    ) -> Result<(), Error> {
        let d = self.disp(rel);
        if rel.is_root() {
            if let Some(m) = mode {
                rustix::fs::fchmod(&self.root, Mode::from_raw_mode(m)).map_err(|e| ioe(&d, e))?;
            }
            if let Some((s, ns)) = mtime {
                rustix::fs::futimens(&self.root, &ts(s, ns)).map_err(|e| ioe(&d, e))?;
            }
            return Ok(());
        }
        let (fd, name) = self.parent(rel)?;
        if is_link {
            // A link's own times (never its target's); links have no mode of their own.
            if let Some((s, ns)) = mtime {
                rustix::fs::utimensat(fd, name, &ts(s, ns), AtFlags::SYMLINK_NOFOLLOW).map_err(|e| ioe(&d, e))?;
            }
            return Ok(());
        }
        // Mode and times go through an fd of the entry itself, opened without following a
        // symlink: a directory or file swapped for a link since it was written makes this
        // fail, never changes the link's target (a path-based chmod would follow it).
        let f = open_entry(fd, name).map_err(|e| ioe(&d, e))?;
        set_fd_meta(fd, name, &f, mode, mtime.map(|(s, ns)| ts(s, ns))).map_err(|e| ioe(&d, e))
    }

    /// List directory `rel` (names and types), without following links.
    pub fn list(&mut self, rel: &SafeRelPath) -> Result<Vec<(String, FType)>, Error> {
        let fd = self.open_dir(rel)?;
        let mut dir = rustix::fs::Dir::read_from(&fd).map_err(|e| ioe(&self.disp(rel), e))?;
        let mut out = Vec::new();
        while let Some(ent) = dir.read() {
            let ent = ent.map_err(|e| ioe(&self.disp(rel), e))?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let ft = match ent.file_type() {
                FileType::RegularFile => FType::File,
                FileType::Directory => FType::Dir,
                FileType::Symlink => FType::Symlink,
                FileType::Unknown => match rustix::fs::statat(&fd, ent.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => meta_of(&st).ftype,
                    Err(_) => FType::Other,
                },
                _ => FType::Other,
            };
            out.push((String::from_utf8_lossy(name).into_owned(), ft));
        }
        Ok(out)
    }
}

/// Open entry `name` of `dir` for a metadata change: a regular file or directory, never
/// through a symlink. `O_PATH` needs no read permission and opens no device or FIFO.
fn open_entry(dir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    let fd = rustix::fs::openat(dir, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    match FileType::from_raw_mode(st.st_mode as _) {
        FileType::RegularFile | FileType::Directory => Ok(fd),
        FileType::Symlink => Err(io::Error::other("it is a symlink now; not changing it (nor what it points to)")),
        _ => Err(io::Error::other("not a regular file or directory; not changing it")),
    }
}

/// Change the mode and/or times of the inode `fd` (an `O_PATH` fd from [`open_entry`]), which
/// takes no fchmod: through its `/proc/self/fd` entry, which names that very inode (no path is
/// resolved again); without /proc, through a read-only fd of `name` in `dir`, used only if it
/// is the same inode.
fn set_fd_meta(dir: &OwnedFd, name: &str, fd: &OwnedFd, mode: Option<u32>, t: Option<Timestamps>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
    if rustix::fs::access(proc.as_str(), rustix::fs::Access::EXISTS).is_ok() {
        if let Some(m) = mode {
            rustix::fs::chmodat(rustix::fs::CWD, proc.as_str(), Mode::from_raw_mode(m), AtFlags::empty())?;
        }
        if let Some(t) = t {
            rustix::fs::utimensat(rustix::fs::CWD, proc.as_str(), &t, AtFlags::empty())?;
        }
        return Ok(());
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let f = rustix::fs::openat(dir, name, flags, Mode::empty())?;
    let (a, b) = (rustix::fs::fstat(&f)?, rustix::fs::fstat(fd)?);
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        return Err(io::Error::other("replaced while its metadata was being set; not changing it"));
    }
    if let Some(m) = mode {
        rustix::fs::fchmod(&f, Mode::from_raw_mode(m))?;
    }
    if let Some(t) = t {
        rustix::fs::futimens(&f, &t)?;
    }
    Ok(())
}

fn remove_at(dirfd: &OwnedFd, name: &str, depth: usize) -> io::Result<()> {
    match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::ISDIR) | Err(rustix::io::Errno::PERM) => {}
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    if depth > crate::path::MAX_DEPTH {
        return Err(io::Error::other("directory tree too deep to remove"));
    }
    let sub = rustix::fs::openat(
        dirfd,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    {
        let mut dir = rustix::fs::Dir::read_from(&sub)?;
        while let Some(ent) = dir.read() {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(String::from_utf8_lossy(n).into_owned());
            }
        }
    }
    for n in names {
        remove_at(&sub, &n, depth + 1)?;
    }
    rustix::fs::unlinkat(dirfd, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// Read exactly `buf.len()` bytes at `offset`.
pub fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, offset)
}

/// Ask the kernel to start reading the first `len` bytes of `f` now, without waiting (readahead
/// for files the caller will read soon: many small files read one after another keep one disk
/// request in flight; read ahead, they keep many). Advisory: errors are ignored.
pub fn will_need(f: &File, len: u64) {
    if let Some(len) = std::num::NonZeroU64::new(len) {
        let _ = rustix::fs::fadvise(f, 0, Some(len), rustix::fs::Advice::WillNeed);
    }
}

/// Write all of `buf` at `offset`.
pub fn write_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.write_all_at(buf, offset)
}

/// Copy `len` bytes at `off` from `src` to the same offset in `dst`, in the kernel
/// (copy_file_range; reflinks on filesystems that support them), falling back to read/write.
pub fn copy_range(src: &File, dst: &File, off: u64, len: u64) -> io::Result<()> {
    let (mut i, mut o, mut left) = (off, off, len);
    while left > 0 {
        match rustix::fs::copy_file_range(src.as_fd(), Some(&mut i), dst.as_fd(), Some(&mut o), left as usize) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "source ended early")),
            Ok(n) => left -= n as u64,
            Err(_) => {
                let mut buf = vec![0u8; left as usize];
                read_at(src, &mut buf, i)?;
                return write_at(dst, &buf, o);
            }
        }
    }
    Ok(())
}
