//! What comes last, once every file is in: `--delete` (entries of the tree that this transfer
//! did not list, protected by the filter and --max-delete) and the temp files of interrupted
//! runs. Which paths the transfer listed, and which it sent as directories, the state machine
//! knows.

use anyhow::Result;

use super::Dest;
use crate::fsio::TEMP_PREFIX;
use crate::meta::FType;
use crate::path::SafeRelPath;
use crate::proto::Flags;
use crate::report::add;

impl Dest<'_> {
    pub(super) fn delete_pass(&mut self) -> Result<()> {
        let dry = self.cfg.flags.has(Flags::DRY_RUN);
        let mut stack = vec![SafeRelPath::root()];
        let mut deleted = 0u64;
        let mut visited = 0usize;
        while let Some(dir) = stack.pop() {
            visited += 1;
            if visited > 10_000_000 {
                break;
            }
            let Some(names) = self.sorted_names(&dir) else { continue };
            for (name, ft) in names {
                let Ok(rel) = dir.join(&name) else {
                    self.rep.warn(&format!(
                        "not deleting {}: name cannot be handled safely",
                        crate::report::sanitize(&name)
                    ));
                    continue;
                };
                if self.st.is_listed(&rel) {
                    if ft == FType::Dir && self.st.is_dir(&rel) {
                        stack.push(rel);
                    }
                    continue;
                }
                if name.starts_with(TEMP_PREFIX) {
                    continue; // our own temp files: cleanup_staged handles them
                }
                if self.backup_rel.as_ref() == Some(&rel) {
                    continue; // the backup directory, inside the destination (rsync backs it up into itself)
                }
                let protect = !self.cfg.flags.has(Flags::DELETE_EXCLUDED);
                if protect && self.cfg.filter.excluded_or_parent(rel.as_str(), ft == FType::Dir) {
                    continue;
                }
                // rsync's `P *~` with --backup and no --backup-dir: backups are not deleted.
                if protect && ft != FType::Dir && self.is_backup_name(&name) {
                    continue;
                }
                if self.cfg.max_delete > 0 && deleted >= self.cfg.max_delete {
                    self.outcome.delete_limited = true;
                    continue;
                }
                if ft == FType::Dir && self.cfg.tuning.backup.is_some() {
                    // As rsync: each file beneath is backed up on its own (suffix and all).
                    deleted += self.back_up_tree(&rel, dry)?;
                    if self.backup_beside().is_some() {
                        // Its backups keep the directory non-empty.
                        let shown = crate::report::sanitize(rel.as_str());
                        self.rep.warn(&format!("cannot delete non-empty directory: {shown}"));
                        continue;
                    }
                }
                deleted += 1;
                let shown = if ft == FType::Dir { format!("{}/", rel.as_str()) } else { rel.as_str().to_owned() };
                self.changed("*deleting  ", &shown);
                add(&self.stats.deleted, 1);
                if !dry {
                    let gone = match self.backup.as_mut() {
                        Some(bk) if ft != FType::Dir => self.root.back_up(&rel, true, bk),
                        _ => self.root.remove_all(&rel),
                    };
                    if let Err(e) = gone {
                        self.fail(&rel, &e.into());
                        continue;
                    }
                    if let Some(m) = self.manifest.as_mut() {
                        m.forget(rel.as_str())?;
                    }
                }
            }
        }
        if self.outcome.delete_limited {
            self.rep.warn(&format!("deletions stopped due to --max-delete limit ({} deleted)", deleted));
        }
        Ok(())
    }

    /// The entries of destination directory `dir`, by name; `None` (the failure reported as
    /// that directory's) when it cannot be listed.
    fn sorted_names(&mut self, dir: &SafeRelPath) -> Option<Vec<(String, FType)>> {
        match self.root.list(dir) {
            Ok(mut names) => {
                names.sort_by(|a, b| a.0.cmp(&b.0));
                Some(names)
            }
            Err(e) => {
                self.fail(dir, &e.into());
                None
            }
        }
    }

    /// The suffix of backups made beside their files (--backup without --backup-dir).
    fn backup_beside(&self) -> Option<&str> {
        let b = self.cfg.tuning.backup.as_ref()?;
        b.dir.is_none().then_some(b.suffix.as_str())
    }

    /// Whether `name` is such a backup (rsync protects `*SUFFIX` from --delete then).
    fn is_backup_name(&self, name: &str) -> bool {
        self.backup_beside().is_some_and(|s| !s.is_empty() && name.ends_with(s))
    }

    /// --backup, deleting directory `dir`: every file beneath it (not itself a backup beside
    /// its file) is backed up on its own, as rsync does; returns how many.
    fn back_up_tree(&mut self, dir: &SafeRelPath, dry: bool) -> Result<u64> {
        let mut stack = vec![dir.clone()];
        let mut n = 0u64;
        while let Some(d) = stack.pop() {
            let Some(names) = self.sorted_names(&d) else { continue };
            for (name, ft) in names {
                let Ok(rel) = d.join(&name) else { continue };
                if ft == FType::Dir {
                    stack.push(rel);
                    continue;
                }
                if self.is_backup_name(&name) {
                    continue;
                }
                n += 1;
                self.changed("*deleting  ", rel.as_str());
                add(&self.stats.deleted, 1);
                if !dry {
                    if let Some(bk) = self.backup.as_mut() {
                        if let Err(e) = self.root.back_up(&rel, true, bk) {
                            self.fail(&rel, &e.into());
                        }
                    }
                }
            }
        }
        Ok(n)
    }

    /// Remove temp files left by interrupted runs once this run has finished.
    pub(super) fn cleanup_staged(&mut self) -> Result<()> {
        let Some(m) = self.manifest.as_mut() else { return Ok(()) };
        let staged = m.staged()?;
        for s in staged {
            if let Ok(rel) = SafeRelPath::new(&s.temp) {
                if let Ok(Some(meta)) = self.root.lstat(&rel) {
                    if meta.ftype == FType::File {
                        let _ = self.root.remove_all(&rel);
                    }
                }
            }
            if let Some(m) = self.manifest.as_mut() {
                m.forget_file(&s.temp)?;
                m.unstage(&s.temp)?;
            }
        }
        // Also unrecorded leftovers (killed before the first record was committed): only after an
        // interrupted run, or with --delete, which walks the tree anyway.
        if self.cfg.flags.has(Flags::DELETE) || self.interrupted_before {
            let mut stack = vec![SafeRelPath::root()];
            let mut n = 0;
            while let Some(dir) = stack.pop() {
                n += 1;
                if n > 1_000_000 {
                    break;
                }
                let Ok(names) = self.root.list(&dir) else { continue };
                for (name, ft) in names {
                    let Ok(rel) = dir.join(&name) else { continue };
                    if name.starts_with(TEMP_PREFIX) && ft != FType::Dir {
                        let _ = self.root.remove_all(&rel);
                    } else if ft == FType::Dir && self.st.is_dir(&rel) {
                        stack.push(rel);
                    }
                }
            }
        }
        Ok(())
    }
}
