//! Paths the user names (DEST, `serve DIR`, `--exclude-from FILE`) may pass through
//! directories other users can write to, such as `/tmp`. A symlink planted there by someone
//! else would send pcp's writes (or its reads of a filter file) wherever that user likes. So,
//! as rsync ≥ 3.4 does, a symlink on such a path is followed only when it is owned by root or
//! by the user running pcp; any other owner is refused.
//!
//! The walk starts at `/` (absolute path) or at the working directory (relative path) and goes
//! one component at a time through directory descriptors: `lstat` each name, follow a trusted
//! link by splicing its target into the rest of the path (restarting at `/` for an absolute
//! target, at most [`MAX_LINKS`] times), and take `..` from the directory actually reached, as
//! the kernel does. [`open_file`] opens the file it ends at without re-resolving the path;
//! [`check`] only checks (the destination root is opened later by the engine).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};

/// Most symlinks followed on one path (Linux's own limit).
pub const MAX_LINKS: usize = 40;

/// Why a path is refused.
#[derive(Debug)]
pub enum Error {
    /// A symlink on the path belongs to neither root nor the running user.
    Untrusted {
        /// The symlink, as resolved so far (absolute).
        link: PathBuf,
        /// Its owner.
        uid: u32,
        /// The path the user gave.
        path: PathBuf,
        /// The link is that path itself (not a directory on the way, nor reached through
        /// another link).
        is_path: bool,
    },
    /// More than [`MAX_LINKS`] symlinks.
    TooManyLinks {
        /// The path the user gave.
        path: PathBuf,
    },
    /// The path cannot be opened ([`open_file`] only).
    Io {
        /// The path the user gave.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Untrusted { link, uid, path, is_path } => {
                write!(f, "refusing to follow symlink {} owned by uid {uid} (neither you nor root)", link.display())?;
                if !is_path {
                    write!(f, " on the way to {}", path.display())?;
                }
                write!(f, "; remove it or give the real path")
            }
            Self::TooManyLinks { path } => {
                write!(f, "{}: more than {MAX_LINKS} symlinks on the way (a loop?); give the real path", path.display())
            }
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

// No `source()`: the message already holds the cause, and error chains are printed whole.
impl std::error::Error for Error {}

/// Check that `path` reaches no symlink owned by someone other than root or the running user.
/// Components that do not exist yet (a destination to be created) are fine, and so is a path
/// that cannot be looked at for another reason: the operation that follows reports that.
pub fn check(path: &Path) -> Result<(), Error> {
    walk(path, false).map(drop)
}

/// Open `path` for reading after the same check, through the directories the check walked
/// (no second resolution of the path between the check and the open).
pub fn open_file(path: &Path) -> Result<File, Error> {
    match walk(path, true)? {
        Some(fd) => Ok(File::from(fd)),
        None => Err(Error::Io { path: path.to_path_buf(), source: io::ErrorKind::NotFound.into() }),
    }
}

/// Open directory `path` after the same check, through the directories the check walked: the
/// fd is the directory the trusted path led to, whatever happens to the path afterwards.
pub fn open_dir(path: &Path) -> Result<OwnedFd, Error> {
    let fd = open_file(path)?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::Io { path: path.to_path_buf(), source: e.into() })?;
    if FileType::from_raw_mode(st.st_mode as _) != FileType::Directory {
        let source = io::Error::from_raw_os_error(libc::ENOTDIR);
        return Err(Error::Io { path: path.to_path_buf(), source });
    }
    Ok(fd.into())
}

enum Step {
    Up,
    Name(OsString),
}

fn steps(p: &Path) -> impl DoubleEndedIterator<Item = Step> + '_ {
    p.components().filter_map(|c| match c {
        Component::Normal(n) => Some(Step::Name(n.to_owned())),
        Component::ParentDir => Some(Step::Up),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

const DIR: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC).union(OFlags::NOFOLLOW);
const READ: OFlags = OFlags::RDONLY.union(OFlags::CLOEXEC).union(OFlags::NOFOLLOW);

/// The walk. With `open`, every failure is an error and the end of the path is opened for
/// reading; without, a missing or unreadable component ends the check successfully.
fn walk(path: &Path, open: bool) -> Result<Option<OwnedFd>, Error> {
    let euid = rustix::process::geteuid().as_raw();
    let io_err = |source: io::Error| Error::Io { path: path.to_path_buf(), source };
    let open_root = || rustix::fs::open("/", DIR, Mode::empty()).map_err(|e| io_err(e.into()));
    let mut dir = if path.is_absolute() {
        open_root()?
    } else {
        rustix::fs::openat(CWD, ".", DIR, Mode::empty()).map_err(|e| io_err(e.into()))?
    };
    // Where the walk is, for messages: the physical path of `dir`.
    let mut at = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
    };
    let mut rest: VecDeque<Step> = steps(path).collect();
    let mut links = 0;
    // A failure that `check` leaves to the operation that follows.
    macro_rules! give_up {
        ($e:expr) => {
            return if open { Err(io_err($e)) } else { Ok(None) }
        };
    }
    while let Some(step) = rest.pop_front() {
        let name = match step {
            Step::Up => {
                dir = match rustix::fs::openat(&dir, "..", DIR, Mode::empty()) {
                    Ok(d) => d,
                    Err(e) => give_up!(e.into()),
                };
                at.pop();
                continue;
            }
            Step::Name(n) => n,
        };
        let here = at.join(&name);
        let st = match rustix::fs::statat(&dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(e) => give_up!(e.into()),
        };
        #[allow(clippy::unnecessary_cast)] // field types differ between architectures
        match FileType::from_raw_mode(st.st_mode as _) {
            FileType::Symlink => {
                let uid = st.st_uid as u32;
                if uid != 0 && uid != euid {
                    let is_path = links == 0 && rest.is_empty();
                    return Err(Error::Untrusted { link: here, uid, path: path.to_path_buf(), is_path });
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::TooManyLinks { path: path.to_path_buf() });
                }
                let target = match rustix::fs::readlinkat(&dir, name.as_os_str(), Vec::new()) {
                    Ok(t) => PathBuf::from(OsString::from_vec(t.into_bytes())),
                    Err(e) => give_up!(e.into()),
                };
                if target.is_absolute() {
                    dir = open_root()?;
                    at = PathBuf::from("/");
                }
                for s in steps(&target).rev() {
                    rest.push_front(s);
                }
            }
            FileType::Directory => {
                dir = match rustix::fs::openat(&dir, name.as_os_str(), DIR, Mode::empty()) {
                    Ok(d) => d,
                    Err(e) => give_up!(e.into()),
                };
                at = here;
            }
            _ if rest.is_empty() => {
                return if open {
                    rustix::fs::openat(&dir, name.as_os_str(), READ, Mode::empty())
                        .map(Some)
                        .map_err(|e| io_err(e.into()))
                } else {
                    Ok(None)
                };
            }
            _ => give_up!(io::Error::from_raw_os_error(libc::ENOTDIR)),
        }
    }
    // The path ends at a directory.
    if open {
        rustix::fs::openat(&dir, OsStr::new("."), READ, Mode::empty()).map(Some).map_err(|e| io_err(e.into()))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn td() -> tempfile::TempDir {
        tempfile::Builder::new().prefix("pcp-trust.").tempdir().unwrap()
    }

    /// The test runs as some user who owns what it creates: every link is trusted and followed.
    #[test]
    fn own_links_are_followed() {
        let d = td();
        let p = d.path();
        std::fs::create_dir_all(p.join("real/sub")).unwrap();
        std::fs::write(p.join("real/sub/f"), "hello").unwrap();
        symlink(p.join("real"), p.join("abs")).unwrap();
        symlink("real/sub", p.join("rel")).unwrap();
        symlink("../rel", p.join("real/up")).unwrap();
        for path in ["abs/sub/f", "rel/f", "real/up/f", "abs/./sub/../sub/f", "rel/../sub/f"] {
            let full = p.join(path);
            check(&full).unwrap();
            assert_eq!(std::io::read_to_string(open_file(&full).unwrap()).unwrap(), "hello", "{path}");
        }
        // a destination that does not exist yet is fine to check, not to open
        check(&p.join("abs/new/deeper")).unwrap();
        assert!(matches!(open_file(&p.join("abs/new")), Err(Error::Io { .. })));
    }

    #[test]
    fn loops_stop() {
        let d = td();
        symlink("b", d.path().join("a")).unwrap();
        symlink("a", d.path().join("b")).unwrap();
        assert!(matches!(check(&d.path().join("a/x")), Err(Error::TooManyLinks { .. })));
    }

    #[test]
    fn message_names_the_link_and_the_fix() {
        let e = Error::Untrusted { link: "/tmp/p".into(), uid: 1234, path: "/tmp/p/dst".into(), is_path: false };
        assert_eq!(
            e.to_string(),
            "refusing to follow symlink /tmp/p owned by uid 1234 (neither you nor root) on the way to /tmp/p/dst; \
             remove it or give the real path"
        );
        let e = Error::Untrusted { link: "/tmp/p/dst".into(), uid: 1234, path: "p/dst/".into(), is_path: true };
        assert_eq!(
            e.to_string(),
            "refusing to follow symlink /tmp/p/dst owned by uid 1234 (neither you nor root); remove it or give the real path"
        );
    }
}
