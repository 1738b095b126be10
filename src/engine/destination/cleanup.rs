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
            let mut names = match self.root.list(&dir) {
                Ok(n) => n,
                Err(e) => {
                    self.fail(&dir, &e.into());
                    continue;
                }
            };
            names.sort_by(|a, b| a.0.cmp(&b.0));
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
                let protect = !self.cfg.flags.has(Flags::DELETE_EXCLUDED);
                if protect && self.cfg.filter.excluded_or_parent(rel.as_str(), ft == FType::Dir) {
                    continue;
                }
                if self.cfg.max_delete > 0 && deleted >= self.cfg.max_delete {
                    self.outcome.delete_limited = true;
                    continue;
                }
                deleted += 1;
                let shown = if ft == FType::Dir { format!("{}/", rel.as_str()) } else { rel.as_str().to_owned() };
                self.changed("*deleting  ", &shown);
                add(&self.stats.deleted, 1);
                if !dry {
                    if let Err(e) = self.root.remove_all(&rel) {
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
