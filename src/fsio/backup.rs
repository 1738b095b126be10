//! `--backup` / `--backup-dir` / `--suffix` (rsync's): what a transfer replaces or deletes is
//! kept, renamed with the suffix beside itself, or moved into the backup directory at the same
//! relative path. Every call goes through directory fds with no symlink followed, in the
//! destination and in the backup directory alike (a component swapped for a symlink fails
//! the entry; it never leads outside either tree).
//!
//! Crash safety: a file about to be replaced is first hard-linked to its backup name (a temp
//! name, then a rename over the old backup), so at every moment the old content is at its
//! final name, its backup name, or both, and the new content is in the temp file until its
//! own rename. Where hard links are refused (a file system without them, a directory) it is
//! renamed to the backup name instead: the old content is then at the backup name, the new
//! one in its temp file, until the install's rename.

use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, Mode};
use rustix::io::Errno;

use super::{ioe, random_suffix, remove_at, DestRoot, Error, TEMP_PREFIX};
use crate::meta::FType;
use crate::path::SafeRelPath;

/// Where backups go.
pub struct BackupTo {
    /// Appended to each backup's name (rsync: `~` without a backup directory, else empty).
    pub suffix: String,
    /// The backup directory, opened (and created) by the caller; `None`: beside the original.
    pub dir: Option<DestRoot>,
}

impl DestRoot {
    /// Keep what is at `rel` (a file, a symlink, or with `moving` a whole directory) as its
    /// backup. `moving`: it is about to be deleted, so it is moved; else it is about to be
    /// replaced, so it stays where it is too (a hard link) when the file system allows.
    /// Nothing there: nothing to do.
    pub fn back_up(&mut self, rel: &SafeRelPath, moving: bool, to: &mut BackupTo) -> Result<(), Error> {
        let Some(meta) = self.lstat(rel)? else { return Ok(()) };
        let d = self.disp(rel);
        let (parent, name) =
            rel.split_last().ok_or_else(|| ioe(&d, std::io::Error::other("the root is not backed up")))?;
        let bname = format!("{name}{}", to.suffix);
        let backup_rel = parent.join(&bname).map_err(|e| ioe(&d, std::io::Error::other(e.to_string())))?;
        let (src_fd, _) = self.parent(rel)?;
        let src_fd = src_fd.try_clone().map_err(|e| ioe(&d, e))?;
        let dst_fd: OwnedFd = match to.dir.as_mut() {
            None => src_fd.try_clone().map_err(|e| ioe(&d, e))?,
            Some(dir) => {
                dir.make_parents(&backup_rel)?;
                let (fd, _) = dir.parent(&backup_rel)?;
                fd.try_clone().map_err(|e| ioe(&d, e))?
            }
        };
        let bd = match to.dir.as_ref() {
            Some(dir) => dir.disp(&backup_rel),
            None => self.disp(&backup_rel),
        };
        // An older backup of a directory at the backup name gives way to the newer one.
        let clear = |fd: &OwnedFd| match rustix::fs::statat(fd, bname.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if super::meta_of(&st).ftype == FType::Dir => remove_at(fd, &bname, 0).map_err(|e| ioe(&bd, e)),
            _ => Ok(()),
        };
        if !moving && meta.ftype != FType::Dir {
            let tmp = format!("{TEMP_PREFIX}{}", random_suffix());
            match rustix::fs::linkat(&src_fd, name, &dst_fd, tmp.as_str(), AtFlags::empty()) {
                Ok(()) => {
                    clear(&dst_fd)?;
                    if let Err(e) = rustix::fs::renameat(&dst_fd, tmp.as_str(), &dst_fd, bname.as_str()) {
                        let _ = rustix::fs::unlinkat(&dst_fd, tmp.as_str(), AtFlags::empty());
                        return Err(ioe(&bd, e));
                    }
                    return Ok(());
                }
                Err(Errno::XDEV) => return Err(cross_device(&bd)),
                // No hard links here: rename instead (below).
                Err(_) => {}
            }
        }
        clear(&dst_fd)?;
        self.invalidate();
        match rustix::fs::renameat(&src_fd, name, &dst_fd, bname.as_str()) {
            Ok(()) => Ok(()),
            Err(Errno::XDEV) => Err(cross_device(&bd)),
            Err(e) => Err(ioe(&bd, e)),
        }
    }

    /// Create the directories above `rel` beneath this root, one at a time with no symlink
    /// followed (an existing non-directory in the way is an error).
    pub(super) fn make_parents(&mut self, rel: &SafeRelPath) -> Result<(), Error> {
        let Some((parent, _)) = rel.split_last() else { return Ok(()) };
        let mut at = SafeRelPath::root();
        for comp in parent.components() {
            at = at.join(comp).map_err(|e| ioe(&self.disp(rel), std::io::Error::other(e.to_string())))?;
            match self.lstat(&at)? {
                Some(m) if m.ftype == FType::Dir => {}
                Some(_) => return Err(Error::NotADir(self.disp(&at))),
                None => {
                    let d = self.disp(&at);
                    let (fd, name) = self.parent(&at)?;
                    match rustix::fs::mkdirat(fd, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(ioe(&d, e)),
                    }
                }
            }
        }
        Ok(())
    }
}

fn cross_device(what: &str) -> Error {
    ioe(
        &what,
        std::io::Error::other(
            "the backup directory is on another file system than the destination; pick one on the same",
        ),
    )
}
